package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/vymalo/opencode-oauth2/go/internal/redact"
)

// netFailure is a transport failure worded for a person: what happened and
// what to check. Every error of a request is shown this way: explain for
// the commands, netDetailFor for the doctor's checks.
type netFailure struct {
	what string
	fix  string
}

const checkNetwork = "check the network, VPN and proxy settings (HTTPS_PROXY, NO_PROXY)"

// classifyNet recognises a transport failure in err's chain (or, when a
// wrapper flattened the chain, in its text).
func classifyNet(err error) (netFailure, bool) {
	if err == nil {
		return netFailure{}, false
	}
	addr := ""
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Addr != nil {
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
		return netFailure{"the connection was refused" + near("by", addr) + " (nothing listens there)",
			"check the URL (host and port) and that the server is running; " + checkNetwork}, true
	case errors.As(err, &dns) || strings.Contains(text, "no such host"):
		host := ""
		if dns != nil {
			host = fmt.Sprintf(" %q", dns.Name)
		}
		return netFailure{"the host name" + host + " cannot be resolved",
			"check the host in the URL for typos; check the network, VPN and DNS settings"}, true
	case errors.As(err, &unknownCA) || strings.Contains(text, "certificate signed by unknown authority"):
		return netFailure{"the server's TLS certificate is signed by an authority this machine does not trust",
			"set caFile in the oauth2 block to the PEM file of that authority (a company proxy or a private CA)"}, true
	case errors.As(err, &badHost) || strings.Contains(text, "certificate is valid for"):
		return netFailure{"the server's TLS certificate is not valid for this host name",
			"check the host in the URL; a proxy that intercepts TLS needs its CA in caFile"}, true
	case errors.As(err, &invalid) || strings.Contains(text, "certificate has expired"):
		return netFailure{"the server's TLS certificate is not valid now (expired or not yet valid)",
			"check this machine's clock; otherwise the server's certificate must be renewed"}, true
	case errors.As(err, &record) || strings.Contains(text, "server gave HTTP response to HTTPS client"):
		return netFailure{"the server does not speak TLS" + near("at", addr),
			"the URL says https:// but the server speaks plain http; check the URL"}, true
	case errors.Is(err, syscall.ECONNRESET) || strings.Contains(text, "connection reset"):
		return netFailure{"the connection was reset" + near("by", addr),
			"a proxy or firewall may be in the way; " + checkNetwork}, true
	case errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH) ||
		strings.Contains(text, "network is unreachable") || strings.Contains(text, "no route to host"):
		return netFailure{"the network" + near("to", addr) + " is unreachable",
			"connect to the network or VPN the server is on; " + checkNetwork}, true
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) ||
		strings.Contains(text, "i/o timeout") || strings.Contains(text, "Client.Timeout exceeded"):
		return netFailure{"no answer" + near("from", addr) + " in time",
			"check the network path (VPN, proxy, firewall); if the server is just slow, raise httpTimeoutMs"}, true
	}
	return netFailure{}, false
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
	if f, ok := classifyNet(err); ok {
		return &reworded{msg: fmt.Sprintf("%s: %s\n  → %s", prefix, f.what, f.fix), err: err}
	}
	return fmt.Errorf("%s: %w", prefix, err)
}

// netDetailFor is a doctor check's detail and fix for err: the classified
// transport failure, its fix naming the URL as urlName (e.g. "issuer URL"),
// or err's text (redacted, bounded) with fallbackFix.
func netDetailFor(err error, urlName, fallbackFix string) (detail, fix string) {
	if f, ok := classifyNet(err); ok {
		return f.what, strings.Replace(f.fix, "check the URL", "check the "+urlName, 1)
	}
	return redact.Text(err.Error(), 4000), fallbackFix
}
