package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/issuer/sqlstore"
)

// runBench runs `cedula bench args…`, its output and errors to out.
func runBench(ctx context.Context, args []string, out io.Writer) error {
	return run(ctx, append([]string{"bench"}, args...), out, out)
}

// runAudit runs `cedula audit args…`, its output and errors to out.
func runAudit(ctx context.Context, args []string, out io.Writer) error {
	return run(ctx, append([]string{"audit"}, args...), out, out)
}

// keysCommand runs `cedula keys args…` on the server configured by cfg,
// which stands in for what the flags, the environment and the file give.
func keysCommand(ctx context.Context, cfg *config.Config, args []string, stdout, stderr io.Writer) error {
	sf := &serverFlags{}
	keys := newKeysCmd(sf)
	keys.PersistentPreRunE = func(*cobra.Command, []string) error { sf.cfg = *cfg; return nil }
	root := &cobra.Command{Use: "cedula", SilenceErrors: true, SilenceUsage: true}
	root.AddCommand(keys)
	root.SetArgs(append([]string{"keys"}, args...))
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root.ExecuteContext(ctx)
}

// TestCLIServerFlagsAnywhere: the server's flags may stand before the
// subcommand, after it, or before the command itself, in both the --name
// value and the --name=value forms.
func TestCLIServerFlagsAnywhere(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(t.TempDir()) // a flag that went unread would leave ./data here, not in dir
	t.Setenv("CEDULA_KEK", strings.Repeat("6a", 32))
	add := func(id string) []string {
		return []string{"--id", id, "--name", "Agencia " + id, "--auth", "none", "--redirect-uri", "https://" + id + ".example/cb"}
	}
	for _, tc := range []struct {
		id   string
		args []string
	}{
		{"before", append([]string{"admin", "--data-dir", dir, "client", "add"}, add("before")...)},
		{"after", append(append([]string{"admin", "client", "add"}, add("after")...), "--data-dir", dir)},
		{"between", append([]string{"admin", "client", "--data-dir=" + dir, "add"}, add("between")...)},
		{"first", append([]string{"--data-dir", dir, "admin", "client", "add"}, add("first")...)},
	} {
		if out, err := cedulaRun(t, tc.args...); err != nil || !strings.Contains(out, `"client_id": "`+tc.id+`"`) {
			t.Errorf("cedula %s: got %q, %v; want the client registered", strings.Join(tc.args, " "), out, err)
		}
	}

	cfg := config.Default()
	cfg.DataDir = dir
	d, _, err := app.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, id := range []string{"before", "after", "between", "first"} {
		if _, err := sqlstore.New(d).Client(t.Context(), id); err != nil {
			t.Errorf("client %s in %s: %v", id, dir, err)
		}
	}
	if _, err := os.Stat("data"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("./data: got %v, want none: a --data-dir went unread", err)
	}
}

// TestCLIHelp: every command has a one-line summary, and --help on each
// succeeds and shows every flag it takes, its own and those it inherits.
func TestCLIHelp(t *testing.T) {
	root := newRootCmd()
	// Cobra adds these two when it executes; here the tree is only walked.
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	n := 0
	walk(root, func(c *cobra.Command) {
		if c.Hidden {
			return // cobra's __complete, which the completion scripts call
		}
		n++
		path := strings.Fields(c.CommandPath())[1:]
		if c.Short == "" {
			t.Errorf("cedula %s: no Short", strings.Join(path, " "))
		}
		var out, errs bytes.Buffer
		if err := run(t.Context(), append(path, "--help"), &out, &errs); err != nil {
			t.Errorf("cedula %s --help: %v", strings.Join(path, " "), err)
			return
		}
		help := out.String()
		if !strings.Contains(help, "Usage:") || errs.Len() > 0 {
			t.Errorf("cedula %s --help: got %q on stdout, %q on stderr; want a usage on stdout only", strings.Join(path, " "), help, errs.String())
		}
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if !strings.Contains(help, "--"+f.Name+" ") && !strings.Contains(help, "--"+f.Name+"[") {
				t.Errorf("cedula %s --help does not show --%s:\n%s", strings.Join(path, " "), f.Name, help)
			}
		})
	})
	if n < 30 {
		t.Errorf("walked %d commands, want the whole tree", n)
	}

	var out bytes.Buffer
	if err := run(t.Context(), []string{"bench", "--help"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\n  reference ", "\n  token ", "\n  audit ", "\n  consent ", "\n  seed ", "cedula bench [command]"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("cedula bench --help: want %q in\n%s", want, out.String())
		}
	}
	// A group cannot run on its own: its usage does not say it can.
	if strings.Contains(out.String(), "cedula bench [flags]") {
		t.Errorf("cedula bench --help offers to run bench alone:\n%s", out.String())
	}
	out.Reset()
	if err := run(t.Context(), []string{"help", "admin", "client", "add"}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "--redirect-uri URI") ||
		!strings.Contains(out.String(), "Inherited Flags:\n      --admin-listen") {
		t.Errorf("cedula help admin client add: got %q, %v", out.String(), err)
	}
}

// TestCLICompletion: cedula completion prints a script for each shell, and
// the dynamic completion the scripts call offers the commands and flags.
func TestCLICompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		var out bytes.Buffer
		if err := run(t.Context(), []string{"completion", shell}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "__complete") ||
			!strings.Contains(out.String(), "cedula") {
			t.Errorf("completion %s: got %d bytes, %v; want a script for cedula", shell, out.Len(), err)
		}
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{""}, []string{"serve", "migrate", "keys", "admin", "bench", "audit", "completion"}},
		{[]string{"bench", ""}, []string{"reference", "token", "audit", "consent", "seed"}},
		{[]string{"admin", "client", ""}, []string{"add", "grant", "revoke", "keygen"}},
		{[]string{"admin", "client", "add", "--"}, []string{"--redirect-uri", "--data-dir", "--config"}},
		{[]string{"audit", "verify", "--k"}, []string{"--key", "--key-file"}},
	} {
		var out bytes.Buffer
		if err := run(t.Context(), append([]string{cobra.ShellCompRequestCmd}, tc.args...), &out, io.Discard); err != nil {
			t.Fatalf("complete %q: %v", tc.args, err)
		}
		got := map[string]bool{}
		for _, l := range strings.Split(out.String(), "\n") {
			name, _, _ := strings.Cut(l, "\t")
			got[name] = true
		}
		for _, w := range tc.want {
			if !got[w] {
				t.Errorf("complete %q: got\n%s\nwant %s among them", tc.args, out.String(), w)
			}
		}
	}
}

// TestCLIRefuses: an unknown command, flag or a stray argument is an error
// that names it, before anything runs.
func TestCLIRefuses(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--frobnicate"}, "cedula serve: flag provided but not defined: --frobnicate"},
		{[]string{"admin", "client", "add", "--id", "x", "--bogus=1"}, "cedula admin client add: flag provided but not defined: --bogus"},
		{[]string{"migrate", "-db", "x.db"}, "use --db"},
		{[]string{"keys", "list", "stray"}, `cedula keys list: unexpected argument "stray"`},
		{[]string{"admin", "citizen", "--given-name", "Ana", "stray"}, `unexpected argument "stray"`},
		{[]string{"admin", "client", "grant", "--scope", "cedula:dpo", "one", "two"}, `unexpected argument "two"`},
		{[]string{"audit", "verify", "--url", "http://127.0.0.1:1/audit", "stray"}, `unexpected argument "stray"`},
		{[]string{"bench", "reference", "--data-dir", "x"}, "flag provided but not defined: --data-dir"},
		{[]string{"admin", "enrol"}, `"citizen" not set`},
		{[]string{"nope"}, `unknown command "nope"`},
		{[]string{"bench", "tokn"}, `unknown scenario "tokn" (reference, token, audit, consent, issue, credential, wallet, verify, journeys, seed); did you mean token?`},
		{[]string{"admin", "client", "remove"}, `unknown subcommand "remove"`},
		{[]string{"keys"}, "cedula keys needs a subcommand: rotate, list"},
		{nil, "cedula needs a command"},
	} {
		var out bytes.Buffer
		err := run(t.Context(), tc.args, &out, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("cedula %s: got %v, want an error with %q", strings.Join(tc.args, " "), err, tc.want)
		}
		if out.Len() > 0 {
			t.Errorf("cedula %s: printed %q, want nothing on stdout", strings.Join(tc.args, " "), out.String())
		}
	}
	if _, err := os.Stat("data"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("./data: got %v, want none: a refused command opened the database", err)
	}
}

// TestCLIExit: the binary prints an error once, as "cedula: …" on stderr,
// and exits 1; help exits 0.
func TestCLIExit(t *testing.T) {
	if args, ok := os.LookupEnv("CEDULA_TEST_CLI_ARGS"); ok {
		os.Args = append([]string{"cedula"}, strings.Fields(args)...)
		main()
		os.Exit(0)
	}
	for _, tc := range []struct {
		args       string
		code       int
		stdout     string
		stderrLine string
	}{
		{"bench reference --frobnicate", 1, "", "cedula: cedula bench reference: flag provided but not defined: --frobnicate\n"},
		{"audit verify stray", 1, "", `cedula: cedula audit verify: unexpected argument "stray"` + "\n"},
		{"audit --help", 0, "cedula audit verify-export --file EXPORT", ""},
		{"help keys rotate", 0, "--ring ring", ""},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCLIExit$")
		cmd.Env = append(os.Environ(), "CEDULA_TEST_CLI_ARGS="+tc.args)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code || !strings.Contains(stdout.String(), tc.stdout) || stderr.String() != tc.stderrLine {
			t.Errorf("cedula %s: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr %q",
				tc.args, code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderrLine)
		}
	}
}
