// Package protocol holds the message types and constants of the shim ↔
// sidecar protocol (protocol/protocol.md), shared by the RPC server and the
// engine that serves it.
package protocol

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// ProtocolVersion is the version of protocol/protocol.md this side speaks.
const ProtocolVersion = 1

// MaxFrame is the largest message body either side accepts (protocol.md).
const MaxFrame = 4 << 20

// Notifier sends a notification to the shim.
type Notifier func(ctx context.Context, method string, params any) error

// Error codes beyond JSON-RPC's standard ones (protocol.md).
const (
	CodeVersionMismatch  = -32001
	CodeNotInitialized   = -32002
	CodeTokenUnavailable = -32010
)

// Method and notification names.
const (
	MethodInitialize  = "initialize"
	MethodConfigApply = "config/apply"
	MethodHeadersGet  = "headers/get"
	MethodLogin       = "login"
	// MethodLoginPaste hands a login under way (started with paste) the
	// address the user's browser ended on.
	MethodLoginPaste = "login/paste"
	MethodShutdown   = "shutdown"
	NotifyLog        = "log"
	NotifyPrompt     = "prompt"
	NotifyInvalidate = "headers/invalidate"
	// NotifyLoginCancel (shim → sidecar) ends every login under way.
	NotifyLoginCancel = "login/cancel"
	// NotifyModelsChanged tells the shim that a provider's model list
	// changed (OpenCode 2 lists it again at once).
	NotifyModelsChanged = "models/changed"
	// NotifyLocationClose (shim → sidecar) ends a location's providers.
	NotifyLocationClose = "location/close"
)

// InitializeParams are the params of initialize.
type InitializeParams struct {
	ProtocolVersion int    `json:"protocolVersion"`
	Interactive     bool   `json:"interactive"`
	HostVersion     string `json:"hostVersion,omitempty"`
	// HostPath is OpenCode's executable (OpenCode 1): without HostVersion
	// and OPENCODE_VERSION, the sidecar reads OpenCode's version beside it.
	HostPath  string `json:"hostPath,omitempty"`
	LogLevel  string `json:"logLevel,omitempty"`
	Directory string `json:"directory,omitempty"`
	// Binary says how the shim found and checked this binary, for the log.
	Binary *BinaryInfo `json:"binary,omitempty"`
}

// BinaryInfo is how the shim found and checked the sidecar binary.
type BinaryInfo struct {
	Path   string `json:"path"`
	Source string `json:"source"` // env | platform-package | dev-build
	Check  string `json:"check"`  // e.g. "sha256 verified"
}

// InitializeResult is the result of initialize.
type InitializeResult struct {
	ProtocolVersion int    `json:"protocolVersion"`
	Version         string `json:"version"`
}

// ConfigApplyParams are the params of config/apply.
type ConfigApplyParams struct {
	// Config is OpenCode's config object; when absent, the sidecar reads
	// the OpenCode config files of Directory itself (OpenCode 2 hands a
	// plugin no config).
	Config json.RawMessage `json:"config,omitempty"`
	// Location names the OpenCode location (a project directory of the
	// OpenCode 2 service) these providers belong to; "" is the only one
	// of an OpenCode 1 process.
	Location string `json:"location,omitempty"`
	// Directory is the location's project directory.
	Directory string `json:"directory,omitempty"`
}

// LocationParams are the params of location/close.
type LocationParams struct {
	Location string `json:"location"`
}

// Problem is one configuration problem as the shim receives it.
type Problem struct {
	ProviderID string `json:"providerID"`
	Field      string `json:"field"`
	Expected   string `json:"expected"`
	Found      string `json:"found"`
	Severity   string `json:"severity"`
	Message    string `json:"message"`
}

// ConfigApplyResult is the result of config/apply.
type ConfigApplyResult struct {
	Providers map[string]map[string]any `json:"providers"`
	Managed   []string                  `json:"managed"`
	Problems  []Problem                 `json:"problems"`
	// ResponseAPI lists the managed ids registered with the Responses API
	// (@ai-sdk/openai), whose streams the shim repairs.
	ResponseAPI []string `json:"responseApi"`
	// Logins lists the managed user-flow providers (authorization_code,
	// device_code) that have no usable token: OpenCode cannot list them
	// until somebody logs in.
	Logins []PendingLogin `json:"logins"`
	// LoginTimeoutMs is, for each managed user-flow provider, how long the
	// shim waits for its login and for a headers/get (which may run one):
	// the sidecar ends the login before (its timeout plus a margin).
	LoginTimeoutMs map[string]int64 `json:"loginTimeoutMs"`
	// TokenHeaders names, for every managed provider, the header its token
	// goes in (Authorization unless the provider says otherwise).
	TokenHeaders map[string]string `json:"tokenHeaders"`
	// Interactive is the sidecar's decision (initialize's interactive, the
	// environment's override): a login may wait for a person.
	Interactive bool `json:"interactive"`
}

// PendingLogin is a provider that needs a login before OpenCode can use it.
type PendingLogin struct {
	ProviderID string `json:"providerID"`
	Name       string `json:"name"`
	Flow       string `json:"flow"`
	TimeoutMs  int64  `json:"timeoutMs"`
	// Message is one line for a person: what is missing and the command
	// that logs in.
	Message string `json:"message"`
	// Announce is the line OpenCode 1's shim says in a terminal before it
	// runs this login at start (which of them, how, the key that skips it).
	Announce string `json:"announce"`
}

// LoginParams are the params of login.
type LoginParams struct {
	ProviderID string `json:"providerID"`
	// Flow is "authorization_code" or "device_code"; empty means the
	// provider's own flow.
	Flow     string `json:"flow,omitempty"`
	Location string `json:"location,omitempty"`
	// Paste: an authorization_code login that takes the address the browser
	// ended on by login/paste (a browser on another machine) instead of the
	// loopback redirect.
	Paste bool `json:"paste,omitempty"`
}

// LoginPasteParams are the params of login/paste.
type LoginPasteParams struct {
	ProviderID string `json:"providerID"`
	Location   string `json:"location,omitempty"`
	// Text is what the user pasted: the address, or its query.
	Text string `json:"text"`
}

// LoginResult is the result of login.
type LoginResult struct {
	ProviderID string `json:"providerID"`
	// Provider is the complete provider entry for OpenCode, with the
	// models fetched after the login (as in config/apply's providers).
	Provider map[string]any `json:"provider"`
	Models   int            `json:"models"`
	// Message is one line for a person: who logged in and what is listed.
	Message string `json:"message"`
}

// HeadersParams are the params of headers/get.
type HeadersParams struct {
	ProviderID string `json:"providerID"`
	ModelID    string `json:"modelID,omitempty"`
	// Refused is the sha256 (hex) of an Authorization value the gateway
	// refused although it was within its lifetime: that token is dropped and
	// a renewed one answered (once for every request that saw it refused).
	Refused  string `json:"refused,omitempty"`
	Location string `json:"location,omitempty"`
}

// HeadersResult is the result of headers/get. Header values are sent in the
// clear: this is the one place a token leaves the sidecar, to the host.
type HeadersResult struct {
	Headers    map[string]string `json:"headers"`
	CacheUntil int64             `json:"cacheUntil,omitempty"`
}

// TokenErrorData is the data of a CodeTokenUnavailable error.
type TokenErrorData struct {
	ProviderID string `json:"providerID"`
	Reason     string `json:"reason"`
}

// LogParams are the params of the log notification.
type LogParams struct {
	Level string `json:"level"`
	// Message names who speaks ("opencode-oauth2: ..."): the shim logs it as it is.
	Message string         `json:"message"`
	Extra   map[string]any `json:"extra,omitempty"`
}

// PromptParams are the params of the prompt notification.
type PromptParams struct {
	ProviderID string `json:"providerID"`
	Kind       string `json:"kind"` // "browser" | "device_code"
	Message    string `json:"message"`
	URL        string `json:"url"`
	UserCode   string `json:"userCode,omitempty"`
	ExpiresAt  int64  `json:"expiresAt,omitempty"`
	// Text is the whole prompt for a terminal (several lines), as the
	// sidecar words it: the shim shows it as it is.
	Text string `json:"text"`
	// Toast is the prompt for a toast, which promises no key: the sentence,
	// the URL and the code on lines of their own; ToastMs, how long it stays.
	Toast    string `json:"toast"`
	ToastMs  int64  `json:"toastMs"`
	Location string `json:"location,omitempty"`
}

// ProviderParams are the params of headers/invalidate and models/changed.
type ProviderParams struct {
	ProviderID string `json:"providerID"`
	Location   string `json:"location,omitempty"`
}

// TokenError is returned by the engine when no token can be had for a
// managed provider; the RPC layer turns it into CodeTokenUnavailable.
// Message must never contain a secret.
type TokenError struct {
	ProviderID string
	Reason     string // login_required | invalid_client | transient | config | cancelled
	Err        error
}

// Reasons for TokenError.
const (
	ReasonLoginRequired = "login_required"
	ReasonInvalidClient = "invalid_client"
	ReasonTransient     = "transient"
	ReasonConfig        = "config"
	ReasonCancelled     = "cancelled"
)

func (e *TokenError) Error() string {
	msg := strings.TrimPrefix(e.Err.Error(), fmt.Sprintf("provider %q: ", e.ProviderID))
	return fmt.Sprintf("provider %q: no access token: %s", e.ProviderID, msg)
}

func (e *TokenError) Unwrap() error { return e.Err }

// VersionMismatchData is the data of a CodeVersionMismatch error.
type VersionMismatchData struct {
	Expected int `json:"expected"`
	Received int `json:"received"`
}
