package models

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/vymalo/opencode-oauth2/go/internal/redact"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
)

const (
	// DefaultMaxBytes bounds a models response body when Fetcher.MaxBytes is 0.
	DefaultMaxBytes = 8 << 20
	// previewReadLimit is how much of an error body is read to build the
	// preview (scrubbing needs more context than the preview keeps).
	previewReadLimit = 4 << 10
	// maxPreview is the most characters of a gateway's body an error carries.
	maxPreview = 300
	// drainLimit is how much of an unread body is discarded so that the
	// connection can be reused; beyond it the connection is dropped.
	drainLimit = 64 << 10
)

// ErrTooLarge is wrapped by Fetch's error when the body exceeds MaxBytes.
var ErrTooLarge = errors.New("response body too large")

// HTTPError is Fetch's error for a non-2xx answer.
type HTTPError struct {
	URL        string // the endpoint, redacted (see redact.URL)
	StatusCode int
	// Preview is the start of the body: one line, credentials scrubbed,
	// at most 300 characters. Empty when the body was.
	Preview string
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("models: GET %s: gateway answered %d %s", e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Preview != "" {
		msg += ": " + e.Preview
	}
	return msg
}

// Fetcher gets model lists. The zero value is ready to use.
type Fetcher struct {
	// Client sends the request (nil: http.DefaultClient), with its own
	// redirect policy: a provider's client follows none, so the token never
	// follows a redirect (oauth.NewHTTPClient).
	Client *http.Client
	// MaxBytes bounds the response body; 0 or less means DefaultMaxBytes.
	MaxBytes int64
}

// Fetch GETs the models endpoint (see URL) with the token in the given
// header (e.g. Authorization: "Bearer <token>"; none is sent when the value
// is empty) and
// parses the answer (see parse). The request, body included, is bound to ctx.
// Userinfo and fragment of modelsURL are not sent.
//
// Errors name the endpoint without userinfo or query and never contain the
// authorization value: a non-2xx answer is an *HTTPError, a body over
// MaxBytes wraps ErrTooLarge, a cancelled or expired ctx wraps ctx's error.
func (f Fetcher) Fetch(ctx context.Context, modelsURL, header string, value secret.String) (List, error) {
	u, err := parseHTTPURL(modelsURL)
	if err != nil {
		return List{}, fmt.Errorf("models: endpoint: %w", err)
	}
	where := redact.URL(u.String())
	if auth := value.Reveal(); strings.ContainsFunc(auth, func(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f }) {
		return List{}, fmt.Errorf("models: GET %s: the authorization value contains control characters", where)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return List{}, fmt.Errorf("models: GET %s: building the request: %w", where, transportError(ctx, err))
	}
	req.Header.Set("Accept", "application/json")
	if !value.IsZero() {
		req.Header.Set(header, value.Reveal())
	}
	resp, err := cmp.Or(f.Client, http.DefaultClient).Do(req)
	if err != nil {
		return List{}, fmt.Errorf("models: GET %s: %w", where, transportError(ctx, err))
	}
	defer func() {
		// A bounded remainder is discarded so that the connection can be
		// reused; beyond it the connection is dropped.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
		_ = resp.Body.Close()
	}()

	// What must never appear in an error: the whole authorization value and
	// its credential without the scheme (redact.Text ignores an empty one).
	_, cred, _ := strings.Cut(value.Reveal(), " ")
	known := []string{value.Reveal(), strings.TrimSpace(cred)}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		head, _ := io.ReadAll(io.LimitReader(resp.Body, previewReadLimit))
		return List{}, &HTTPError{URL: where, StatusCode: resp.StatusCode, Preview: redact.Text(string(head), maxPreview, known...)}
	}

	limit := cmp.Or(max(f.MaxBytes, 0), DefaultMaxBytes)
	if resp.ContentLength > limit {
		return List{}, fmt.Errorf("models: GET %s: %w: Content-Length %d exceeds the %d byte limit", where, ErrTooLarge, resp.ContentLength, limit)
	}
	var buf bytes.Buffer
	buf.Grow(int(max(resp.ContentLength, 0)) + bytes.MinRead) // ContentLength is -1 when unknown
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, limit+1)); err != nil {
		return List{}, fmt.Errorf("models: GET %s: reading the response: %w", where, transportError(ctx, err))
	}
	if int64(buf.Len()) > limit {
		return List{}, fmt.Errorf("models: GET %s: %w: the body exceeds the %d byte limit", where, ErrTooLarge, limit)
	}
	list, err := parse(buf.Bytes())
	if err != nil {
		head := buf.Bytes()[:min(buf.Len(), previewReadLimit)]
		return List{}, fmt.Errorf("models: GET %s: %w; the body starts: %s", where, err, redact.Text(string(head), maxPreview, known...))
	}
	return list, nil
}

// transportError drops the *url.Error layer, which repeats the full URL
// (query included), and makes sure an expired or cancelled ctx can be
// recognised with errors.Is whatever the transport reported.
func transportError(ctx context.Context, err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w: %w", cerr, err)
	}
	return err
}

// URL returns the models endpoint of a provider.
//
// With a non-empty override, the override is the endpoint. Otherwise it is
// derived from baseURL as the original plugin did: trailing slashes are
// removed from the path; a path ending in "/v1" gets "/models" appended,
// any other path "/v1/models" (so https://h/openai/v2 becomes
// https://h/openai/v2/v1/models: set an override when the gateway lists its
// models elsewhere). The query is kept, because some gateways need it
// (api-version and the like).
//
// Unlike the original, userinfo and the fragment are dropped: a fragment is
// never sent anyway, and credentials embedded in a URL would end up in logs
// and compete with the bearer token. Both URLs must be absolute http(s)
// URLs with a host. Errors never repeat the URL, which may hold credentials.
func URL(baseURL, override string) (string, error) {
	if override != "" {
		u, err := parseHTTPURL(override)
		if err != nil {
			return "", fmt.Errorf("models: modelsURL: %w", err)
		}
		return u.String(), nil
	}
	u, err := parseHTTPURL(baseURL)
	if err != nil {
		return "", fmt.Errorf("models: baseURL: %w", err)
	}
	p := strings.TrimRight(u.EscapedPath(), "/")
	if !strings.HasSuffix(p, "/v1") {
		p += "/v1"
	}
	p += "/models"
	// EscapedPath returns a valid escaping, and the suffix keeps it one:
	// unescaping cannot fail.
	u.Path, _ = url.PathUnescape(p)
	u.RawPath = p
	return u.String(), nil
}

// parseHTTPURL parses an absolute http(s) URL and removes its userinfo and
// fragment. Its errors describe the problem without quoting the input.
func parseHTTPURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		// url.Error and its cause may quote parts of the input (userinfo
		// included), so the cause is not passed on.
		return nil, errors.New("not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errors.New("must be an absolute http:// or https:// URL")
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, errors.New("has no host")
	}
	u.User = nil
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}
