package oauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"

	"golang.org/x/oauth2"

	"github.com/vymalo/opencode-oauth2/go/internal/redact"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
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

// classify turns an error from x/oauth2 or net/http into an *Error.
func (c *Client) classify(op string, err error) error {
	e := &Error{ProviderID: c.p.ID, Op: op}
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re):
		if re.Response != nil {
			e.Status = re.Response.StatusCode
		}
		mine := []secret.String{c.p.ClientSecret}
		e.Code = redact.Text(scrubValues(re.ErrorCode, mine), 60)
		e.Description = redact.Text(scrubValues(re.ErrorDescription, mine), 200)
		if e.Code == "" && len(re.Body) > 0 && e.Status >= 400 {
			e.Description = "response: " + redact.Text(scrubValues(string(re.Body), mine), 200)
		}
		// As in tokenreq.go: a 429 or 5xx is transient whatever code it names.
		switch {
		case e.Status == 429 || e.Status >= 500 || re.ErrorCode == "temporarily_unavailable" || re.ErrorCode == "server_error":
			e.kind = tokens.ErrTransient
		case re.ErrorCode == "invalid_grant":
			e.kind = tokens.ErrInvalidGrant
		case re.ErrorCode == "invalid_client" || (e.Status == 401 && re.ErrorCode == ""):
			e.kind = tokens.ErrInvalidClient
		}
	default:
		e.cause = transportError(err)
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

func isTransient(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var ue *url.Error
	return errors.As(err, &ue)
}
