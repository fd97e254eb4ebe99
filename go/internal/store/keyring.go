package store

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/zalando/go-keyring"
)

// Keyring keeps the credentials of entries in the OS keychain (macOS
// Keychain, Windows Credential Manager, the Linux Secret Service) through
// github.com/zalando/go-keyring; models, metadata and the lock stay in the
// cache directory and hold no secret. A credentials state is gzipped,
// base64-encoded and split into items of at most itemBytes (macOS and
// Windows refuse large items), so token sets of any realistic size fit.
// Every call is bounded by Timeout: a keychain that is locked and waits
// for a password prompt nobody sees fails instead of hanging a start.
type Keyring struct {
	// Service names the items ("opencode-oauth2").
	Service string
	// Timeout bounds each call (default 5 s).
	Timeout time.Duration
}

// DefaultKeyring is the keychain service of this plugin.
func DefaultKeyring() Keyring { return Keyring{Service: "opencode-oauth2"} }

const (
	itemBytes   = 2000
	maxItems    = 64
	chunkPrefix = "chunks:"
	formatV1    = "v1:"
)

// ErrNoKeyring: no keychain answered.
var ErrNoKeyring = errors.New("no keychain answers")

// call runs f with the deadline; a call that does not return in time is
// left behind (the library has no cancellation) and reported.
func (k Keyring) call(what string, f func() error) error {
	timeout := cmp.Or(max(k.Timeout, 0), 5*time.Second)
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		return fmt.Errorf("%w: the keychain did not answer %s within %s (locked, and waiting for a password prompt?)", ErrNoKeyring, what, timeout)
	}
}

func (k Keyring) get(name string) (v string, err error) {
	err = k.call("a read", func() (err error) {
		v, err = keyring.Get(k.Service, name)
		return err
	})
	return v, err
}

func (k Keyring) set(name, value string) error {
	return k.call("a write", func() error { return keyring.Set(k.Service, name, value) })
}

func (k Keyring) del(name string) error {
	err := k.call("a removal", func() error { return keyring.Delete(k.Service, name) })
	if errors.Is(err, keyring.ErrNotFound) {
		return nil
	}
	return err
}

// errNotFound: nothing is stored under that name.
var errNotFound = keyring.ErrNotFound

// Read returns the data stored under name; an error wrapping errNotFound
// when there is none.
func (k Keyring) Read(name string) ([]byte, error) {
	body, count, err := k.head(name)
	if err != nil {
		return nil, err
	}
	for i := range count { // body is "" when the value is in parts
		part, err := k.get(partName(name, i))
		if err != nil {
			return nil, fmt.Errorf("part %d of %d: %w", i+1, count, err)
		}
		body += part
	}
	raw, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return nil, errors.New("the keychain item is not valid base64")
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, errors.New("the keychain item is not gzip data")
	}
	return io.ReadAll(io.LimitReader(zr, maxStateFile))
}

// Write stores data under name, in parts when it is large; parts of an
// earlier, longer value are removed.
func (k Keyring) Write(name string, data []byte) error {
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	_, _ = zw.Write(data)
	_ = zw.Close()
	body := base64.StdEncoding.EncodeToString(zb.Bytes())
	_, old, _ := k.head(name) // the parts of the value it replaces
	head, count := body, 0
	if len(body) > itemBytes {
		count = (len(body) + itemBytes - 1) / itemBytes
		if count > maxItems {
			return fmt.Errorf("the token set is too large for the keychain (%d bytes)", len(data))
		}
		for i := range count {
			if err := k.set(partName(name, i), body[i*itemBytes:min(len(body), (i+1)*itemBytes)]); err != nil {
				return err
			}
		}
		head = chunkPrefix + strconv.Itoa(count)
	}
	if err := k.set(name, formatV1+head); err != nil {
		return err
	}
	return k.dropParts(name, count, old)
}

// Remove deletes what is stored under name, parts included.
func (k Keyring) Remove(name string) error {
	_, old, _ := k.head(name) // the parts of the value it replaces
	if err := k.del(name); err != nil {
		return err
	}
	return k.dropParts(name, 0, old)
}

// Probe checks that a keychain answers: it writes, reads and removes an item.
func (k Keyring) Probe() error {
	const name = ".probe"
	if err := k.Write(name, []byte("probe")); err != nil {
		return fmt.Errorf("%w: %w", ErrNoKeyring, err)
	}
	got, err := k.Read(name)
	_ = k.Remove(name)
	if err != nil || string(got) != "probe" {
		return fmt.Errorf("%w: it did not return what was stored (%v)", ErrNoKeyring, err)
	}
	return nil
}

// head reads the item under name: the value's body when it is in one
// item, else how many parts hold it.
func (k Keyring) head(name string) (body string, parts int, err error) {
	v, err := k.get(name)
	if err != nil {
		return "", 0, err
	}
	body, ok := strings.CutPrefix(v, formatV1)
	if !ok {
		return "", 0, errors.New("the keychain item is not in this plugin's format")
	}
	n, chunked := strings.CutPrefix(body, chunkPrefix)
	if !chunked {
		return body, 0, nil
	}
	if parts, err = strconv.Atoi(n); err != nil || parts < 1 || parts > maxItems {
		return "", 0, errors.New("the keychain item names no valid number of parts")
	}
	return "", parts, nil
}

func (k Keyring) dropParts(name string, from, to int) error {
	for i := from; i < to; i++ {
		if err := k.del(partName(name, i)); err != nil {
			return err
		}
	}
	return nil
}

func partName(name string, i int) string { return name + "#" + strconv.Itoa(i) }
