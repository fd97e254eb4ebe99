package oauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"

	"golang.org/x/oauth2"

	"github.com/vymalo/opencode-oauth2/go/internal/redact"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

// Error is a failed exchange with the authorization server.
type Error struct {
	ProviderID  string
	Op          string // e.g. "client_credentials token request"
	Status      int    // HTTP status, 0 when no response arrived
	Code        string // OAuth error code, e.g. invalid_grant
	Description string // server's error_description, scrubbed and bounded
	kind        error  // one of tokens.ErrInvalidGrant, ErrInvalidClient, ErrTransient, or nil
	cause       error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("provider %q: %s failed", e.ProviderID, e.Op)
	switch {
	case e.Code != "" && e.Status != 0:
		msg += fmt.Sprintf(": %s (HTTP %d)", e.Code, e.Status)
	case e.Code != "":
		msg += ": " + e.Code
	case e.Status != 0:
		msg += fmt.Sprintf(": HTTP %d", e.Status)
	}
	if e.Description != "" {
		msg += ": " + e.Description
	}
	if e.cause != nil {
		msg += ": " + e.cause.Error()
	}
	if hint := e.hint(); hint != "" {
		msg += " (" + hint + ")"
	}
	return msg
}

func (e *Error) hint() string {
	switch {
	case errors.Is(e.kind, tokens.ErrInvalidClient):
		return "check clientId, clientSecret and clientAuthMethod"
	case e.Code == "invalid_scope":
		return "check scopes: the server refused one of them"
	case e.Code == "unsupported_grant_type" || e.Code == "unauthorized_client":
		return "the client is not allowed this grant at the server"
	case e.Status >= 300 && e.Status < 400:
		return "the endpoint redirected; redirects are not followed, configure the final URL"
	}
	return ""
}

// Is matches the tokens classification errors.
func (e *Error) Is(target error) bool { return e.kind != nil && target == e.kind }

// Unwrap returns the underlying transport error, if any.
func (e *Error) Unwrap() error { return e.cause }

// classify is the one place that maps a failed request to an *Error:
// x/oauth2's *oauth2.RetrieveError (token endpoint) or answerError's (other
// endpoints), x/oauth2's parse errors, or a transport error. secrets are
// the values the request carried (requestSecrets): every one of them is
// masked in whatever text of the server's the error keeps, before that
// text is cleaned and truncated, so no prefix of a secret survives a cut.
func (c *Client) classify(op string, err error, secrets []string) error {
	e := &Error{ProviderID: c.p.ID, Op: op}
	clean := func(s string, max int) string { return redact.Text(redact.Values(s, secrets), max) }
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re):
		if re.Response != nil {
			e.Status = re.Response.StatusCode
		}
		e.Code = clean(re.ErrorCode, 60)
		e.Description = clean(re.ErrorDescription, 200)
		if re.ErrorCode == "" && len(bytes.TrimSpace(re.Body)) > 0 && e.Status >= 400 {
			e.Description = "response: " + clean(string(re.Body), 200)
		}
		// A 429 or 5xx is the server failing, whatever code it names: retry
		// later rather than ask the user to log in again.
		switch {
		case e.Status == 429 || e.Status >= 500 || re.ErrorCode == "temporarily_unavailable" || re.ErrorCode == "server_error":
			e.kind = tokens.ErrTransient
		case re.ErrorCode == "invalid_grant":
			e.kind = tokens.ErrInvalidGrant
		case re.ErrorCode == "invalid_client" || (e.Status == 401 && re.ErrorCode == ""):
			e.kind = tokens.ErrInvalidClient
		}
	case isURLError(err): // no answer: unreachable, timed out, or cancelled by us
		e.cause = transportError(err)
		if !errors.Is(err, context.Canceled) {
			e.kind = tokens.ErrTransient
		}
	default: // x/oauth2 could not read a 2xx answer, or another failure
		e.cause = errors.New(clean(err.Error(), 300))
		if isTransient(err) {
			e.kind = tokens.ErrTransient
		}
	}
	return e
}

// transportError keeps the message of a transport error but drops the
// query and userinfo from any URL it names.
func transportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %w", ue.Op, redact.URL(ue.URL), ue.Err)
	}
	return err
}

func isURLError(err error) bool {
	var ue *url.Error
	return errors.As(err, &ue)
}

func isTransient(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) || isURLError(err)
}
