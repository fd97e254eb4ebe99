// Command test-gateway runs the OpenAI-compatible test gateway (package testgateway)
// on 127.0.0.1, for the demo and for end-to-end tests with the real OpenCode.
//
// It prints exactly one line on stdout, `listening <url>`, once it accepts connections
// (logs go to stderr), and exits on SIGINT/SIGTERM or, when stdin is a pipe, when stdin
// closes, so that a test that dies leaves no orphan.
//
//	test-gateway --issuer http://127.0.0.1:PORT --audience http://127.0.0.1/gateway --port 0 --models 5
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/testgateway"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "test-gateway:", err)
		os.Exit(1)
	}
}

type config struct {
	issuer     string
	audience   string
	port       int
	models     int
	modelIDs   string
	modelsFile string
	chunkDelay time.Duration
	omitIdx    bool
	header     string
	scheme     string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("test-gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.issuer, "issuer", "", "issuer URL whose JWKS validates bearer tokens (required)")
	fs.StringVar(&c.audience, "audience", "http://127.0.0.1/gateway", "audience the access tokens must carry")
	fs.IntVar(&c.port, "port", 0, "port on 127.0.0.1 (0 = random)")
	fs.IntVar(&c.models, "models", 3, "number of generated model ids served at /v1/models")
	fs.StringVar(&c.modelIDs, "model-ids", "", "comma-separated model ids (overrides --models)")
	fs.StringVar(&c.modelsFile, "model-ids-file", "", "a JSON array of model id strings, any bytes (overrides --model-ids)")
	fs.DurationVar(&c.chunkDelay, "chunk-delay", 20*time.Millisecond, "pause between streamed chunks")
	fs.StringVar(&c.header, "token-header", "Authorization", "the only header the token is taken from (as cf-aig-authorization or x-portkey-api-key)")
	fs.StringVar(&c.scheme, "token-scheme", "Bearer", `the scheme before the token in --token-header; "" for the token alone`)
	fs.BoolVar(&c.omitIdx, "responses-omit-indices", false,
		"stream /v1/responses events without output_index/content_index/summary_index (like Envoy AI Gateway)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if c.issuer == "" {
		return c, errors.New("--issuer is required")
	}
	if c.port < 0 || c.port > 65535 {
		return c, fmt.Errorf("--port %d is out of range", c.port)
	}
	if c.models < 0 {
		return c, fmt.Errorf("--models %d must not be negative", c.models)
	}
	return c, nil
}

func run(args []string, stdin *os.File, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	logger := log.New(stderr, "test-gateway: ", log.LstdFlags)

	opts := testgateway.Options{
		Issuer:     c.issuer,
		Audience:   c.audience,
		ModelCount: c.models,
		ChunkDelay: c.chunkDelay,
		// Responses events without indices (switchable later with POST /_test/responses).
		ResponsesOmitIndices: c.omitIdx,
		Logf:                 logger.Printf,
		TokenHeader:          c.header,
		TokenScheme:          c.scheme,
	}
	if c.modelsFile != "" {
		ids, err := readModelIDs(c.modelsFile)
		if err != nil {
			return err
		}
		opts.Models = ids
	} else if c.modelIDs != "" {
		opts.Models = strings.Split(c.modelIDs, ",")
	} else if c.models == 0 {
		opts.Models = []string{}
	}
	gw := testgateway.New(opts)
	defer gw.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if stdinIsPipe(stdin) {
		go func() {
			_, _ = io.Copy(io.Discard, stdin)
			logger.Print("stdin closed, shutting down")
			cancel()
		}()
	}

	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", c.port))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           gw,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       30 * time.Second,
		ErrorLog:          logger,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	url := "http://" + ln.Addr().String()
	logger.Printf("issuer %s, audience %s, %d models", c.issuer, c.audience, len(gw.Models()))
	if _, err := fmt.Fprintf(stdout, "listening %s\n", url); err != nil {
		_ = srv.Close()
		return fmt.Errorf("write listening line: %w", err)
	}

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	gw.Close() // end pending delays and streams before the graceful shutdown
	shutdownCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// stdinIsPipe reports whether stdin is a pipe or socket (a supervising process), as
// opposed to a terminal or /dev/null, where end-of-file says nothing.
func stdinIsPipe(f *os.File) bool {
	if f == nil {
		return false
	}
	st, err := f.Stat()
	if err != nil {
		return false
	}
	return st.Mode()&(os.ModeNamedPipe|os.ModeSocket) != 0
}

// readModelIDs reads --model-ids-file: a JSON array of strings, so that ids
// with control characters or of any length can be served.
func readModelIDs(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--model-ids-file: %w", err)
	}
	var ids []string
	if err := json.Unmarshal(data, &ids); err != nil {
		return nil, fmt.Errorf("--model-ids-file %s: expected a JSON array of strings: %w", path, err)
	}
	return ids, nil
}
