package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
)

var completionCommand = command{
	name:    "completion",
	args:    "bash|zsh|fish",
	summary: "Print a shell completion script: commands, flags and the provider ids of the OpenCode config.",
	help: `Install it with, for example:
  bash:  opencode-oauth2 completion bash > ~/.local/share/bash-completion/completions/opencode-oauth2
  zsh:   opencode-oauth2 completion zsh > "${fpath[1]}/_opencode-oauth2"
  fish:  opencode-oauth2 completion fish > ~/.config/fish/completions/opencode-oauth2.fish
Provider ids are completed by running ` + "`opencode-oauth2 completion --providers`" + `,
which lists the ids of the config found from the current directory (no network).
`,
	setup: func(fs *flag.FlagSet) runFunc {
		var providers bool
		fs.BoolVar(&providers, "providers", false, "list the provider ids of the config, one per line (used by the scripts)")
		return func(_ context.Context, c *cli, cf *commonFlags, args []string) error {
			if providers {
				return listProviderIDs(c, cf)
			}
			if len(args) != 1 {
				return failf(exitUsage, "name one shell: bash, zsh or fish")
			}
			gen, ok := map[string]func(io.Writer, []commandSpec){"bash": bashCompletion, "zsh": zshCompletion, "fish": fishCompletion}[args[0]]
			if !ok {
				return failf(exitUsage, "no completion for shell %q%s; bash, zsh and fish are supported", args[0], didYouMean(args[0], []string{"bash", "zsh", "fish"}))
			}
			gen(c.stdout, commandSpecs())
			return nil
		}
	},
}

// commandSpec is what a completion script knows of a command.
type commandSpec struct {
	name      string
	summary   string
	flags     []string // without dashes
	providers bool     // takes provider ids
	words     []string // fixed positional words
}

func commandSpecs() []commandSpec {
	var out []commandSpec
	for _, cmd := range commands {
		fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
		if !cmd.noConfig {
			(&commonFlags{}).register(fs)
		}
		cmd.setup(fs)
		spec := commandSpec{name: cmd.name, summary: cmd.summary, providers: strings.Contains(cmd.args, "provider")}
		fs.VisitAll(func(f *flag.Flag) {
			if len(f.Name) > 1 {
				spec.flags = append(spec.flags, f.Name)
			}
		})
		spec.flags = append(spec.flags, "help")
		if cmd.name == "completion" {
			spec.words = []string{"bash", "zsh", "fish"}
		}
		out = append(out, spec)
	}
	return append(out, commandSpec{name: "help", summary: "Help for a command.", words: commandNamesOf(out)})
}

func commandNamesOf(specs []commandSpec) []string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.name
	}
	return names
}

// listProviderIDs prints the managed provider ids (and those skipped for
// config errors), for the completion scripts.
func listProviderIDs(c *cli, cf *commonFlags) error {
	s, err := c.open(cf)
	if err != nil {
		return err
	}
	defer s.Close()
	for _, id := range s.allIDs() {
		fmt.Fprintln(c.stdout, id)
	}
	return nil
}

func bashCompletion(w io.Writer, specs []commandSpec) {
	fmt.Fprint(w, `# bash completion for opencode-oauth2
_opencode_oauth2() {
  local cur cmd words
  cur="${COMP_WORDS[COMP_CWORD]}"
  cmd="${COMP_WORDS[1]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "`+strings.Join(commandNamesOf(specs), " ")+`" -- "$cur"))
    return
  fi
  case "$cmd" in
`)
	for _, s := range specs {
		words := make([]string, 0, len(s.flags)+len(s.words))
		for _, f := range s.flags {
			words = append(words, "--"+f)
		}
		words = append(words, s.words...)
		providers := ""
		if s.providers {
			providers = ` $("${COMP_WORDS[0]}" completion --providers 2>/dev/null)`
		}
		fmt.Fprintf(w, "    %s) words=\"%s%s\" ;;\n", s.name, strings.Join(words, " "), providers)
	}
	fmt.Fprint(w, `    *) words="" ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _opencode_oauth2 opencode-oauth2
`)
}

func zshCompletion(w io.Writer, specs []commandSpec) {
	fmt.Fprint(w, "#compdef opencode-oauth2\n# zsh completion for opencode-oauth2\n_opencode_oauth2() {\n  local -a cmds\n  cmds=(\n")
	for _, s := range specs {
		fmt.Fprintf(w, "    %s\n", zshQuote(s.name+":"+firstSentence(s.summary)))
	}
	fmt.Fprint(w, "  )\n  if (( CURRENT == 2 )); then\n    _describe command cmds\n    return\n  fi\n  case $words[2] in\n")
	for _, s := range specs {
		var items []string
		for _, f := range s.flags {
			items = append(items, "--"+f)
		}
		items = append(items, s.words...)
		providers := ""
		if s.providers {
			providers = " ${(f)\"$($words[1] completion --providers 2>/dev/null)\"}"
		}
		fmt.Fprintf(w, "    %s) compadd -- %s%s ;;\n", s.name, strings.Join(items, " "), providers)
	}
	fmt.Fprint(w, "  esac\n}\ncompdef _opencode_oauth2 opencode-oauth2\n")
}

func fishCompletion(w io.Writer, specs []commandSpec) {
	names := strings.Join(commandNamesOf(specs), " ")
	fmt.Fprintf(w, "# fish completion for opencode-oauth2\ncomplete -c opencode-oauth2 -f\n")
	for _, s := range specs {
		fmt.Fprintf(w, "complete -c opencode-oauth2 -n 'not __fish_seen_subcommand_from %s' -a %s -d %s\n", names, s.name, fishQuote(firstSentence(s.summary)))
		for _, f := range s.flags {
			fmt.Fprintf(w, "complete -c opencode-oauth2 -n '__fish_seen_subcommand_from %s' -l %s\n", s.name, f)
		}
		if len(s.words) > 0 {
			fmt.Fprintf(w, "complete -c opencode-oauth2 -n '__fish_seen_subcommand_from %s' -a %s\n", s.name, fishQuote(strings.Join(s.words, " ")))
		}
		if s.providers {
			fmt.Fprintf(w, "complete -c opencode-oauth2 -n '__fish_seen_subcommand_from %s' -a '(opencode-oauth2 completion --providers 2>/dev/null)'\n", s.name)
		}
	}
}

func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSuffix(s, ".")
}

func zshQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
func fishQuote(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}
