package models

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

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
	if strings.HasSuffix(p, "/v1") {
		p += "/models"
	} else {
		p += "/v1/models"
	}
	unescaped, err := url.PathUnescape(p)
	if err != nil {
		// EscapedPath always returns a valid escaping; keep the error anyway.
		return "", fmt.Errorf("models: baseURL: path is not a valid escaping: %w", err)
	}
	u.Path, u.RawPath = unescaped, p
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
