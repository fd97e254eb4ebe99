package loopback

import (
	"html/template"
	"net/http"
)

type pageKind string

const (
	pageSuccess pageKind = "success"
	pageFailure pageKind = "failure"
	pageInfo    pageKind = "info"
)

// pageTmpl is the one small page: no script, no external resource; the id of
// <main> (login-success, login-failure, login-info) is stable for tests.
var pageTmpl = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} - opencode-oauth2</title>
<style>
body{font-family:system-ui,sans-serif;margin:3rem auto;max-width:32rem;padding:0 1rem;color:#1a1a1a}
h1{font-size:1.4rem}.success h1{color:#17663a}.failure h1{color:#b00020}
p{line-height:1.5;overflow-wrap:anywhere}small{color:#666}
</style>
</head>
<body>
<main id="login-{{.Kind}}" class="{{.Kind}}">
<h1>{{.Title}}</h1>
<p>{{.Text}}</p>
<p><small>opencode-oauth2</small></p>
</main>
</body>
</html>
`))

func (s *Server) page(w http.ResponseWriter, status int, kind pageKind, title, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, struct {
		Kind        pageKind
		Title, Text string
	}{kind, title, text})
}
