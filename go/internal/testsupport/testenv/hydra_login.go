package testenv

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sync"
	"testing"
	"time"
)

// HydraLoginApp is the login and consent app of a Hydra test server, the part of a
// deployment that Hydra leaves to its operator: Hydra redirects the browser to it
// with a login_challenge (then a consent_challenge), and it answers through Hydra's
// admin API, as Hydra's documentation shows. The login page is a form (ids
// login-form, login, password, submit, like the oidc-provider test server's, so the
// same scripted browsers fill it) that accepts any user name matching
// [A-Za-z0-9][A-Za-z0-9._@-]* with DemoPassword; consent is granted without a page:
// the requested scopes and the server's Audience.
type HydraLoginApp struct {
	// URL is the app's base URL, http://127.0.0.1:<port>.
	URL string

	hydra     *Hydra
	autoLogin bool

	mu     sync.Mutex
	logins int // accepted logins
}

var userNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]*$`)

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Sign in</title></head><body><main>
<h1>Sign in to {{.Client}}</h1>
{{if .Error}}<p id="login-error">{{.Error}}</p>{{end}}
<form id="login-form" method="post" action="/login">
<input type="hidden" name="challenge" value="{{.Challenge}}">
<label>User <input id="login" name="login" autocomplete="username"></label>
<label>Password <input id="password" name="password" type="password"></label>
<button id="submit" type="submit">Sign in</button>
</form></main></body></html>
`))

func startHydraLoginApp(t testing.TB, h *Hydra, autoLogin bool) *HydraLoginApp {
	app := &HydraLoginApp{hydra: h, autoLogin: autoLogin}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", app.showLogin)
	mux.HandleFunc("POST /login", app.submitLogin)
	mux.HandleFunc("GET /consent", app.consent)
	mux.HandleFunc("GET /error", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "hydra error: "+r.URL.Query().Get("error")+": "+r.URL.Query().Get("error_description"), http.StatusBadRequest)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	app.URL = srv.URL
	return app
}

// Logins is the number of logins the app accepted.
func (a *HydraLoginApp) Logins() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.logins
}

type loginRequest struct {
	Skip    bool   `json:"skip"`
	Subject string `json:"subject"`
	Client  struct {
		ID string `json:"client_id"`
	} `json:"client"`
}

type redirectTo struct {
	RedirectTo string `json:"redirect_to"`
}

func (a *HydraLoginApp) showLogin(w http.ResponseWriter, r *http.Request) {
	challenge := r.URL.Query().Get("login_challenge")
	var lr loginRequest
	if err := a.hydra.admin(r.Context(), http.MethodGet, "/admin/oauth2/auth/requests/login?login_challenge="+url.QueryEscape(challenge),
		nil, http.StatusOK, &lr); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	switch {
	case lr.Skip: // Hydra already knows the user: the login must be accepted as is
		a.acceptLogin(w, r, challenge, lr.Subject)
	case a.autoLogin:
		a.acceptLogin(w, r, challenge, DemoUser)
	default:
		a.render(w, http.StatusOK, challenge, lr.Client.ID, "")
	}
}

func (a *HydraLoginApp) render(w http.ResponseWriter, status int, challenge, client, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = loginPage.Execute(w, map[string]string{"Challenge": challenge, "Client": client, "Error": msg})
}

func (a *HydraLoginApp) submitLogin(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	challenge, user := r.PostForm.Get("challenge"), r.PostForm.Get("login")
	if !userNameRe.MatchString(user) || r.PostForm.Get("password") != DemoPassword {
		a.render(w, http.StatusUnauthorized, challenge, "", "Wrong user name or password.")
		return
	}
	a.acceptLogin(w, r, challenge, user)
}

func (a *HydraLoginApp) acceptLogin(w http.ResponseWriter, r *http.Request, challenge, subject string) {
	var next redirectTo
	if err := a.hydra.admin(r.Context(), http.MethodPut, "/admin/oauth2/auth/requests/login/accept?login_challenge="+url.QueryEscape(challenge),
		map[string]any{"subject": subject, "remember": false}, http.StatusOK, &next); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	a.mu.Lock()
	a.logins++
	a.mu.Unlock()
	http.Redirect(w, r, next.RedirectTo, http.StatusFound)
}

type consentRequest struct {
	Subject           string   `json:"subject"`
	RequestedScope    []string `json:"requested_scope"`
	RequestedAudience []string `json:"requested_access_token_audience"`
}

// consent grants what was asked, plus the gateway's audience for the access token.
func (a *HydraLoginApp) consent(w http.ResponseWriter, r *http.Request) {
	challenge := r.URL.Query().Get("consent_challenge")
	var cr consentRequest
	if err := a.hydra.admin(r.Context(), http.MethodGet, "/admin/oauth2/auth/requests/consent?consent_challenge="+url.QueryEscape(challenge),
		nil, http.StatusOK, &cr); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	audience := []string{a.hydra.Audience}
	for _, aud := range cr.RequestedAudience {
		if aud != a.hydra.Audience {
			audience = append(audience, aud)
		}
	}
	var next redirectTo
	if err := a.hydra.admin(r.Context(), http.MethodPut, "/admin/oauth2/auth/requests/consent/accept?consent_challenge="+url.QueryEscape(challenge),
		map[string]any{
			"grant_scope": cr.RequestedScope, "grant_access_token_audience": audience, "remember": false,
			"session": map[string]any{"id_token": map[string]any{"preferred_username": cr.Subject}},
		}, http.StatusOK, &next); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	http.Redirect(w, r, next.RedirectTo, http.StatusFound)
}

// newBrowser is a cookie-keeping HTTP client that follows redirects between Hydra and
// its login app and stops at any redirect that leaves them (the client's loopback
// callback), like a person's browser handing over to the application.
func (h *Hydra) newBrowser() (*browser, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, fmt.Errorf("cookie jar: %w", err)
	}
	ours := map[string]bool{}
	for _, raw := range []string{h.Issuer, h.App.URL} {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, err
		}
		ours[u.Host] = true
	}
	return &browser{client: &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if !ours[req.URL.Host] {
				return http.ErrUseLastResponse
			}
			if len(via) >= 20 {
				return errors.New("stopped after 20 redirects")
			}
			return nil
		},
	}}, nil
}

// CompleteAuthorization plays the person at the browser: it opens authorizeURL (the
// client's start URL or Hydra's authorization URL) with a fresh cookie jar, signs in
// on the app's form as DemoUser unless AutoLogin, lets consent be granted, and returns
// the URL of the redirect to the client's redirect URI without following it. An error
// redirect (error=... in the callback URL) is returned as a callback URL too.
func (h *Hydra) CompleteAuthorization(ctx context.Context, authorizeURL string) (string, error) {
	b, err := h.newBrowser()
	if err != nil {
		return "", err
	}
	p, err := b.get(ctx, authorizeURL)
	if err != nil {
		return "", fmt.Errorf("complete authorization: %w", err)
	}
	if p.location == "" {
		if f := p.form("login-form"); f != nil {
			f.fields.Set("login", DemoUser)
			f.fields.Set("password", DemoPassword)
			if p, err = b.submit(ctx, p, f); err != nil {
				return "", fmt.Errorf("complete authorization: sign in: %w", err)
			}
		}
	}
	if p.location == "" {
		return "", fmt.Errorf("complete authorization: no redirect to the client: %s", p.describe())
	}
	return p.location, nil
}

// BrowseAuthorization is CompleteAuthorization followed by the browser loading the
// callback URL (delivering the code to the client's loopback listener). It returns
// the status of the listener's answer.
func (h *Hydra) BrowseAuthorization(ctx context.Context, authorizeURL string) (int, error) {
	callback, err := h.CompleteAuthorization(ctx, authorizeURL)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, callback, nil)
	if err != nil {
		return 0, fmt.Errorf("browse authorization: %w", err)
	}
	req.Header.Set("Accept", "text/html")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return 0, fmt.Errorf("browse authorization: deliver callback: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxPageBytes))
	return resp.StatusCode, nil
}
