package cli

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/redact"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
)

// Names under which people run the command line.
const (
	binaryName  = "opencode-oauth2"
	packageName = "@vymalo/opencode-oauth2"
	docsURL     = "https://github.com/vymalo/opencode-oauth2/blob/main/docs/cli.md"
)

// isTTY reports whether w is a terminal (not a pipe, a file or /dev/null).
func isTTY(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// envCommand names this program for hints when its launcher knows better
// than PATH (npx puts the package's bin on PATH for one run only).
const envCommand = "OPENCODE_OAUTH2_COMMAND"

// selfCommand is how a hint names this program so that it works as typed
// where the user is: what the launcher says (envCommand), else the bare
// name when a program of that name is on PATH, else through npx, which
// fetches the npm package's launcher.
func selfCommand(getenv func(string) string, lookPath func(string) (string, error)) string {
	if v := strings.TrimSpace(getenv(envCommand)); v != "" {
		return v
	}
	if _, err := lookPath(binaryName); err == nil {
		return binaryName
	}
	return "npx " + packageName
}

// hint is a command line to suggest, e.g. c.hint("login", "acme").
func (c *cli) hint(args ...string) string {
	return strings.Join(append([]string{c.self()}, args...), " ")
}

// withSelf puts the program's name as it works here into a help text
// written with "opencode-oauth2 " in its examples.
func (c *cli) withSelf(text string) string {
	for _, q := range []string{"`", "$(", "  "} {
		text = strings.ReplaceAll(text, q+binaryName+" ", q+c.self()+" ")
	}
	return text
}

// didYouMean is `; did you mean "x"?` for the known word closest to word,
// or "".
func didYouMean(word string, known []string) string {
	if g := config.Suggest(word, known); g != "" && g != word {
		return fmt.Sprintf("; did you mean %q?", g)
	}
	return ""
}

// colors renders the few highlights of the command line: only on a
// terminal, and never when NO_COLOR is set (https://no-color.org) or
// --no-color is given.
type colors struct{ on bool }

func (k colors) wrap(code, s string) string {
	if !k.on || s == "" {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func (k colors) bold(s string) string   { return k.wrap("1", s) }
func (k colors) red(s string) string    { return k.wrap("31", s) }
func (k colors) green(s string) string  { return k.wrap("32", s) }
func (k colors) yellow(s string) string { return k.wrap("33", s) }
func (k colors) dim(s string) string    { return k.wrap("2", s) }

// maxJWT bounds a token the command line decodes for display.
const maxJWT = 64 << 10

// identity is what the cached id_token says about the user. It is decoded
// without verifying the signature: the id_token was verified when it was
// received (login), and here it is only shown, never trusted.
type identity struct {
	Subject  string `json:"sub,omitempty"`
	Email    string `json:"email,omitempty"`
	Username string `json:"preferred_username,omitempty"`
	Name     string `json:"name,omitempty"`
	// Verified is always false: the claims are decoded for display only.
	Verified bool `json:"verified"`
}

// String is the most readable identifier: email, user name, name, subject.
func (i identity) String() string { return cmp.Or(i.Email, i.Username, i.Name, i.Subject) }

// jwtClaims decodes the payload of a JWT without verifying it: nil when
// raw is not a JWT with a JSON object payload.
func jwtClaims(raw secret.String) map[string]any {
	s := raw.Reveal()
	parts := strings.Split(s, ".")
	if len(s) > maxJWT || len(parts) != 3 {
		return nil
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	var claims map[string]any
	if err != nil || json.Unmarshal(payload, &claims) != nil {
		return nil
	}
	return claims
}

// identityOf reads the identity claims of an id_token (unverified).
func identityOf(idToken secret.String) (identity, bool) {
	claims := jwtClaims(idToken)
	str := func(k string) string {
		v, _ := claims[k].(string)
		return redact.Clean(v, 120)
	}
	id := identity{Subject: str("sub"), Email: str("email"), Username: str("preferred_username"), Name: str("name")}
	return id, id.String() != ""
}

const checkNetwork = "check the network, VPN and proxy settings (HTTPS_PROXY, NO_PROXY)"

// classifyNet recognises a transport failure in err's chain (or, when a
// wrapper flattened the chain, in its text) and words it for a person: what
// happened and what to check; "" when it is none. Every error of a request
// is shown this way: explain for the commands, netDetailFor for the
// doctor's checks.
func classifyNet(err error) (what, fix string) {
	addr := ""
	if oe, ok := errors.AsType[*net.OpError](err); ok && oe.Addr != nil {
		addr = oe.Addr.String()
	}
	var dns *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var badHost x509.HostnameError
	var invalid x509.CertificateInvalidError
	var record tls.RecordHeaderError
	var ne net.Error
	text := err.Error()
	switch {
	case errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(text, "connection refused"):
		return "the connection was refused" + near("by", addr) + " (nothing listens there)",
			"check the URL (host and port) and that the server is running; " + checkNetwork
	case errors.As(err, &dns) || strings.Contains(text, "no such host"):
		host := ""
		if dns != nil {
			host = fmt.Sprintf(" %q", dns.Name)
		}
		return "the host name" + host + " cannot be resolved",
			"check the host in the URL for typos; check the network, VPN and DNS settings"
	case errors.As(err, &unknownCA) || strings.Contains(text, "certificate signed by unknown authority"):
		return "the server's TLS certificate is signed by an authority this machine does not trust",
			"set caFile in the oauth2 block to the PEM file of that authority (a company proxy or a private CA)"
	case errors.As(err, &badHost) || strings.Contains(text, "certificate is valid for"):
		return "the server's TLS certificate is not valid for this host name",
			"check the host in the URL; a proxy that intercepts TLS needs its CA in caFile"
	case errors.As(err, &invalid) || strings.Contains(text, "certificate has expired"):
		return "the server's TLS certificate is not valid now (expired or not yet valid)",
			"check this machine's clock; otherwise the server's certificate must be renewed"
	case errors.As(err, &record) || strings.Contains(text, "server gave HTTP response to HTTPS client"):
		return "the server does not speak TLS" + near("at", addr),
			"the URL says https:// but the server speaks plain http; check the URL"
	case errors.Is(err, syscall.ECONNRESET) || strings.Contains(text, "connection reset"):
		return "the connection was reset" + near("by", addr),
			"a proxy or firewall may be in the way; " + checkNetwork
	case errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH) ||
		strings.Contains(text, "network is unreachable") || strings.Contains(text, "no route to host"):
		return "the network" + near("to", addr) + " is unreachable",
			"connect to the network or VPN the server is on; " + checkNetwork
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) ||
		strings.Contains(text, "i/o timeout") || strings.Contains(text, "Client.Timeout exceeded"):
		return "no answer" + near("from", addr) + " in time",
			"check the network path (VPN, proxy, firewall); if the server is just slow, raise httpTimeoutMs"
	}
	return "", ""
}

// near is " by 1.2.3.4:443" (prep and the address), or "" without one.
func near(prep, addr string) string {
	if addr == "" {
		return ""
	}
	return " " + prep + " " + addr
}

// reworded is an error whose message is worded for a person while errors.Is
// and errors.As still see the original.
type reworded struct {
	msg string
	err error
}

func (r *reworded) Error() string { return r.msg }
func (r *reworded) Unwrap() error { return r.err }

// explain prefixes err with what the command tried; a transport failure is
// worded as doctor words it, with what to check on a second line.
func explain(prefix string, err error) error {
	if what, fix := classifyNet(err); what != "" {
		return &reworded{msg: fmt.Sprintf("%s: %s\n  → %s", prefix, what, fix), err: err}
	}
	return fmt.Errorf("%s: %w", prefix, err)
}

// netDetailFor is a doctor check's detail and fix for err: the classified
// transport failure, its fix naming the URL as urlName (e.g. "issuer URL"),
// or err's text (redacted, bounded) with fallbackFix.
func netDetailFor(err error, urlName, fallbackFix string) (detail, fix string) {
	if what, fix := classifyNet(err); what != "" {
		return what, strings.Replace(fix, "check the URL", "check the "+urlName, 1)
	}
	return redact.Text(err.Error(), 4000), fallbackFix
}
