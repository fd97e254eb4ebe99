package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/oauth"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

var loginCommand = command{
	name:    "login",
	args:    "<provider>",
	summary: "Log in to the provider now, so that OpenCode never has to ask.",
	help: `Runs the provider's interactive flow (authorization_code in the browser, or
device_code) and stores the tokens in the cache that OpenCode sessions share; a
running OpenCode picks them up within seconds. When a valid or refreshable login
is cached already, nothing is done unless --force is given.

In an SSH session, --device logs in with a code you enter on any other device
(the server must support the device authorization grant). For providers with a
machine flow (client_credentials, jwt_bearer, token_exchange) there is nothing
to log in to: a token is obtained to check the credentials.

The browser is opened with the platform's opener or the command in
OPENCODE_OAUTH2_BROWSER ("none" never opens one: the URL is printed instead).
`,
	setup: func(fs *flag.FlagSet) runFunc {
		var o loginOptions
		fs.BoolVar(&o.device, "device", false, "use the device authorization grant (a code to enter elsewhere), e.g. over SSH")
		fs.BoolVar(&o.noBrowser, "no-browser", false, "do not open a browser; print the URL to open instead")
		fs.BoolVar(&o.force, "force", false, "log in again even when a valid login is cached")
		return func(ctx context.Context, c *cli, cf *commonFlags, args []string) error {
			return runLogin(ctx, c, cf, o, args)
		}
	},
}

type loginOptions struct {
	device    bool
	noBrowser bool
	force     bool
}

var errNoBrowser = errors.New("--no-browser was given")

func runLogin(ctx context.Context, c *cli, cf *commonFlags, o loginOptions, args []string) error {
	s, p, err := c.openOne(cf, args)
	if err != nil {
		return err
	}
	defer s.Close()
	cfg := p.Config()
	name := displayName(cfg)

	if !cfg.Flow.Interactive() {
		if o.device {
			return failf(exitUsage, "%s uses the %s flow, which needs no login; --device applies to user logins only", name, cfg.Flow)
		}
		tctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		tok, err := p.Token(tctx, tokens.NoLogin)
		if err != nil {
			return withCode(tokenExitCode(err), fmt.Errorf("%s uses the %s flow, which needs no login, but getting a token failed: %w", name, cfg.Flow, err))
		}
		fmt.Fprintf(c.stderr, "%s uses the %s flow: no login needed. A token was obtained (%s).\n", name, cfg.Flow, expiryText(tok, c.now()))
		return nil
	}

	flow := cfg.Flow
	if o.device {
		flow = config.DeviceCode
		if err := checkDeviceSupport(ctx, s, cfg); err != nil {
			return err
		}
	}
	if !o.force {
		tctx, cancel := context.WithTimeout(ctx, time.Minute)
		tok, err := p.Token(tctx, tokens.NoLogin)
		cancel()
		if err == nil {
			fmt.Fprintf(c.stderr, "Already logged in to %s%s (%s). Use --force to log in again.\n", name, asWho(tok), expiryText(tok, c.now()))
			return nil
		}
		if code := tokenExitCode(err); code != exitLoginRequired {
			return withCode(code, fmt.Errorf("could not check the cached login of %s: %w", name, err))
		}
	}

	opts := oauth.Options{Log: s.log, Stderr: c.stderr, Getenv: c.getenv}
	if o.noBrowser {
		opts.OpenBrowser = func(context.Context, string) error { return errNoBrowser }
	}
	timeout := cfg.LoginTimeout
	if timeout <= 0 {
		timeout = config.DefaultLoginTimeout
	}
	lctx, cancel := context.WithTimeout(ctx, timeout+time.Minute)
	defer cancel()
	tok, err := p.LoginWith(lctx, flow, opts)
	if err != nil {
		code := tokenExitCode(err)
		if code == exitLoginRequired { // the login itself failed, was refused or timed out
			code = exitFailure
		}
		return withCode(code, fmt.Errorf("login to %s failed: %w", name, err))
	}
	fmt.Fprintf(c.stderr, "Logged in to %s%s with %s (%s). OpenCode sessions use this login from now on.\n",
		name, asWho(tok), flow, expiryText(tok, c.now()))
	return nil
}

// checkDeviceSupport fails unless the server (or the config) has a device
// authorization endpoint, before the cached login is touched.
func checkDeviceSupport(ctx context.Context, s *session, cfg config.Provider) error {
	dc := cfg
	dc.Flow = config.DeviceCode
	client, err := oauth.New(dc, oauth.Options{Log: s.log})
	if err != nil {
		return withCode(exitConfig, err)
	}
	mctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	meta, err := client.Metadata(mctx)
	if err != nil {
		return withCode(exitFailure, fmt.Errorf("cannot check device login support of %s: %w", displayName(cfg), err))
	}
	if meta.DeviceAuthorizationEndpoint == "" {
		return failf(exitFailure, "%s does not support device logins: the server metadata of %s has no device_authorization_endpoint "+
			"(if the server has one, set deviceAuthorizationEndpoint in the oauth2 block); log in without --device", displayName(cfg), cfg.Issuer)
	}
	return nil
}

// asWho is " as <identity>" from the id_token, or "".
func asWho(t tokens.Token) string {
	if id, ok := identityOf(t.IDToken); ok {
		return " as " + id.String()
	}
	return ""
}

// expiryText describes when the access token expires.
func expiryText(t tokens.Token, now time.Time) string {
	if t.ExpiresAt.IsZero() {
		return "the access token has no expiry"
	}
	s := "access token expires " + when(t.ExpiresAt, now)
	if !t.RefreshToken.IsZero() {
		s += "; it is renewed with the refresh token"
	}
	return s
}
