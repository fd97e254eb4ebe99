module github.com/vymalo/opencode-oauth2

go 1.26.8

require github.com/stretchr/testify v1.12.1

require (
	github.com/adrg/xdg v0.5.3 // indirect
	github.com/go-jose/go-jose/v4 v4.1.9 // indirect
	github.com/sourcegraph/jsonrpc2 v0.2.3 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/oauth2 v0.38.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
