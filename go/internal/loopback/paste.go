package loopback

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Paste hands the server an authorization response pasted by the user: the
// address the browser ended on (the redirect URI with its query), when that
// browser runs on another machine and the loopback redirect cannot arrive
// here, or that address's query alone. It is judged exactly as a callback
// (state in constant time, RFC 9207 iss, error responses) and used once. A
// paste that is not this login's answer is an error that says why, and the
// login goes on waiting; an accepted or rejected one ends Wait. The pasted
// text never reaches a log.
func (s *Server) Paste(text string) error {
	q, err := pastedQuery(strings.TrimSpace(text))
	if err != nil {
		return err
	}
	j := judge(q, s.cfg.State, s.cfg.Issuer, s.cfg.RequireIssuer)
	if j.verdict == stray {
		return errors.New("this is not the answer of this login: " + j.reason)
	}
	_, err = s.deliver(j)
	return err
}

// pastedQuery is the query of a pasted address (http(s), any host, the
// callback path) or of a pasted query string.
func pastedQuery(text string) (url.Values, error) {
	const expected = "paste the whole address the browser ended on (it starts with http://127.0.0.1 or http://localhost and holds code= and state=)"
	if text == "" {
		return nil, errors.New("nothing was pasted; " + expected)
	}
	raw := text
	if strings.Contains(text, "://") {
		u, err := url.Parse(text)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, errors.New("that is not an http address; " + expected)
		}
		if u.Path != callbackPath {
			return nil, fmt.Errorf("that address is not the login's redirect (its path is not %s); %s", callbackPath, expected)
		}
		raw = u.RawQuery
	} else if !strings.Contains(text, "=") || strings.ContainsAny(text, " \t") {
		return nil, errors.New("that is not an address; " + expected)
	} else {
		raw = strings.TrimPrefix(raw, "?")
	}
	q, err := url.ParseQuery(raw)
	if err != nil || len(q) == 0 {
		return nil, errors.New("the address's query cannot be read; " + expected)
	}
	return q, nil
}
