// Command perf-probe measures what the Go benchmarks cannot: the sidecar
// as a process. It is a development tool (docs/performance.md), not part of
// the release.
//
//	perf-probe echo     the floor peer: a bare JSON echo over stdin/stdout
//	                    with the protocol's framing (rpc.Codec); -result
//	                    answers every request with that JSON instead
//	perf-probe sizes    builds opencode-oauth2 for linux, darwin, windows ×
//	                    amd64, arm64 (CGO_ENABLED=0 -trimpath -ldflags "-s -w")
//	                    into a temporary directory and reports the sizes
//	perf-probe rss      runs a real `opencode-oauth2 serve` through many token
//	                    refreshes (1 s tokens) and model syncs (500 models) and
//	                    reports its resident memory
//	perf-probe measure  runs a command and reports its wall time, CPU time and
//	                    peak resident memory (for whole-process comparisons)
//
// Run it from the repository (it builds the sidecar with the go command):
//
//	go run ./go/tools/perf-probe sizes
//	go run ./go/tools/perf-probe rss -refreshes 1000 -syncs 1000
//
// The round trip and start-up benchmarks, which spawn the built sidecar and
// this program's echo, are in this package's tests:
//
//	go test -run '^$' -bench . ./go/tools/perf-probe
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/vymalo/opencode-oauth2/go/internal/rpc"
)

const usage = `usage: perf-probe <command> [flags]

  echo    serve the floor peer (bare JSON echo, Content-Length framing) on stdin/stdout;
          -result JSON answers every request with that result instead of its params
  sizes   build the sidecar for six platforms and report the binary sizes
  rss     run the sidecar through refreshes and model syncs and report its RSS
  measure run a command (perf-probe measure -- cmd args...) and report its wall
          time, CPU time and peak RSS as a JSON line on stderr

"perf-probe <command> -h" lists a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "echo":
		err = runEcho(args[1:], stdin, stdout, stderr)
	case "sizes":
		err = runSizes(ctx, args[1:], stdout, stderr)
	case "rss":
		err = runRSS(ctx, args[1:], stdout, stderr)
	case "measure":
		err = runMeasure(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "perf-probe: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err == flag.ErrHelp {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "perf-probe:", err)
		return 1
	}
	return 0
}

func runEcho(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	result := fs.String("result", "", "JSON to answer every request with (default: the request's params)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var canned json.RawMessage
	if *result != "" {
		if !json.Valid([]byte(*result)) {
			return fmt.Errorf("echo: -result is not JSON")
		}
		canned = json.RawMessage(*result)
	}
	if err := echo(stdin, stdout, canned); err != io.EOF {
		return err
	}
	return nil
}

// echo is the floor of the sidecar round trip: it reads each frame with
// rpc.Codec and answers with result (nil: the request's params), buffered
// and flushed per frame like the sidecar's stream. No JSON-RPC library, no
// goroutine per request, no work. It returns io.EOF when stdin closes.
func echo(r io.Reader, w io.Writer, result json.RawMessage) error {
	br := bufio.NewReader(r)
	bw := bufio.NewWriter(w)
	for {
		var req struct {
			ID     json.RawMessage `json:"id"`
			Params json.RawMessage `json:"params"`
		}
		if err := (rpc.Codec{}).ReadObject(br, &req); err != nil {
			if isEOF(err) {
				return io.EOF
			}
			return err
		}
		if result != nil {
			req.Params = result
		}
		if len(req.Params) == 0 {
			req.Params = json.RawMessage("null")
		}
		resp := struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Result  json.RawMessage `json:"result"`
		}{"2.0", req.ID, req.Params}
		if err := (rpc.Codec{}).WriteObject(bw, resp); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
	}
}
