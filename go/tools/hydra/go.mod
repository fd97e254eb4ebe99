// Build recipe of Ory Hydra, the second authorization server of the integration
// tests (`task deps:hydra` builds it into bin/hydra). A module of its own so that
// Hydra's large dependency tree stays out of the project's go.mod; go.sum pins it.
// `go install github.com/ory/hydra/v2@v2.3.0` refuses Hydra's go.mod (it has replace
// directives): the replace of gobuffalo/pop is repeated here; its other one points
// into Hydra's repository, so the published hydra-client-go its go.mod requires is used.
module github.com/vymalo/opencode-oauth2/go/tools/hydra

go 1.22

require github.com/ory/hydra/v2 v2.3.0

replace github.com/gobuffalo/pop/v6 => github.com/ory/pop/v6 v6.2.1-0.20241121111754-e5dfc0f3344b
