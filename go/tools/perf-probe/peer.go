package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vymalo/opencode-oauth2/go/internal/rpc"
)

// sidecarPkg is the import path of the sidecar's main package.
const sidecarPkg = "github.com/vymalo/opencode-oauth2/go/cmd/opencode-oauth2"

// releaseFlags are the flags of a release build.
var releaseFlags = []string{"-trimpath", "-ldflags", "-s -w"}

// build compiles pkg for this machine with the release flags into dir.
func build(ctx context.Context, pkg, dir, name string) (string, error) {
	out := filepath.Join(dir, name+exeSuffix(goos()))
	args := append(append([]string{"build"}, releaseFlags...), "-o", out, pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w: %s", pkg, err, strings.TrimSpace(string(msg)))
	}
	return out, nil
}

// message is any frame from the peer.
type message struct {
	ID     *int64          `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
}

type outgoing struct {
	JSONRPC string `json:"jsonrpc"`
	ID      int64  `json:"id"`
	Method  string `json:"method"`
	Params  any    `json:"params"`
}

// peer is a child process spoken to like the shim speaks to the sidecar:
// requests on its stdin, answers (matched by id) and notifications on its
// stdout. Calls may be concurrent.
type peer struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	nextID atomic.Int64
	notifs atomic.Int64

	wmu sync.Mutex
	w   *bufio.Writer

	mu      sync.Mutex
	pending map[int64]chan message
	readErr error
	done    chan struct{} // closed when stdout ends
}

// startPeer starts bin with args; stderr goes to errOut (nil: discarded).
func startPeer(bin string, args, env []string, errOut io.Writer) (*peer, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = errOut
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &peer{cmd: cmd, stdin: stdin, w: bufio.NewWriter(stdin), pending: map[int64]chan message{}, done: make(chan struct{})}
	go p.read(bufio.NewReader(stdout))
	return p, nil
}

func (p *peer) read(r *bufio.Reader) {
	defer close(p.done)
	for {
		var m message
		if err := (rpc.Codec{}).ReadObject(r, &m); err != nil {
			p.mu.Lock()
			p.readErr = err
			for id, ch := range p.pending {
				close(ch)
				delete(p.pending, id)
			}
			p.mu.Unlock()
			return
		}
		if m.Method != "" || m.ID == nil {
			p.notifs.Add(1)
			continue
		}
		p.mu.Lock()
		ch := p.pending[*m.ID]
		delete(p.pending, *m.ID)
		p.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	}
}

// call sends a request and waits for its answer, at most until ctx ends.
func (p *peer) call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	id := p.nextID.Add(1)
	ch := make(chan message, 1)
	p.mu.Lock()
	if p.readErr != nil {
		err := p.readErr
		p.mu.Unlock()
		return nil, fmt.Errorf("%s: the peer's output ended: %w", method, err)
	}
	p.pending[id] = ch
	p.mu.Unlock()

	p.wmu.Lock()
	err := (rpc.Codec{}).WriteObject(p.w, outgoing{JSONRPC: "2.0", ID: id, Method: method, Params: params})
	if err == nil {
		err = p.w.Flush()
	}
	p.wmu.Unlock()
	if err != nil {
		p.forget(id)
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("%s: the peer's output ended", method)
		}
		if len(m.Error) > 0 && string(m.Error) != "null" {
			return nil, fmt.Errorf("%s: %s", method, m.Error)
		}
		return m.Result, nil
	case <-ctx.Done():
		p.forget(id)
		return nil, fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

func (p *peer) forget(id int64) {
	p.mu.Lock()
	delete(p.pending, id)
	p.mu.Unlock()
}

// stop closes stdin (the sidecar then shuts down by itself) and waits for
// the process, killing it after grace.
func (p *peer) stop(grace time.Duration) error {
	_ = p.stdin.Close()
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	select {
	case err := <-exited:
		return err
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-exited
		return errors.New("the peer did not exit after its input closed; killed")
	}
}

// initialize sends the shim's first request.
func (p *peer) initialize(ctx context.Context) error {
	_, err := p.call(ctx, "initialize", map[string]any{"protocolVersion": 1, "interactive": false})
	return err
}

// percentile is the nearest-rank percentile of samples (sorted in place).
func percentile(samples []time.Duration, q float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	slices.Sort(samples)
	i := int(float64(len(samples))*q+0.999999) - 1
	return samples[min(max(i, 0), len(samples)-1)]
}

func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, os.ErrClosed)
}
