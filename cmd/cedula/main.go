// Command cedula is Cedula's one binary: the server, its migrations, key
// rotation, administration and the load generator.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cedula/cedula/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "cedula:", err)
		os.Exit(1)
	}
}

// run executes the command line args; help (-h, --help, cedula help) is
// not an error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newRootCmd()
	if args == nil {
		args = []string{} // cobra reads os.Args when given nil
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root.ExecuteContext(ctx)
}

func init() {
	// Commands are listed in the order they are added — the server's
	// first, the tools after — not alphabetically.
	cobra.EnableCommandSorting = false
}

// newRootCmd builds the command tree.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "cedula",
		Short: "Citizen identity wallet and consent service",
		Long: `Cedula — citizen identity wallet and consent service.

The commands that work on a server's configuration (serve, migrate, keys,
admin) share the flags --config, --db, --keys, --listen, --admin-listen,
--public-url, --data-dir and --demo, before or after their subcommand. A YAML
file (--config or CEDULA_CONFIG) overrides the defaults, then CEDULA_*
environment variables, then the flags (docs/configuration.md).

Shell completion: cedula completion bash|zsh|fish|powershell prints a script;
cedula completion bash --help says where to put it.`,
		// A runtime error is not a usage error, and main prints it once.
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(), newMigrateCmd(), newKeysCmd(&serverFlags{}), newAdminCmd(&serverFlags{}),
		newBenchCmd(), newAuditCmd(), newWalletCmd())
	groupRunE(root, "command")
	root.SetFlagErrorFunc(flagError)
	root.SetUsageTemplate(strings.NewReplacer(
		// A group runs only to refuse a missing or unknown subcommand (see
		// groupRunE): its usage shows "cedula bench [command]", not also
		// "cedula bench [flags]" as if it ran on its own.
		"{{if .Runnable}}", "{{if and .Runnable (not .HasAvailableSubCommands)}}",
		// The flags a subcommand inherits are its group's (the server's
		// flags of keys and admin), not every command's.
		"Global Flags:", "Inherited Flags:",
	).Replace(root.UsageTemplate()))
	walk(root, func(c *cobra.Command) {
		// No command takes a file as a positional argument.
		if !c.HasSubCommands() && c.ValidArgsFunction == nil {
			c.ValidArgsFunction = cobra.NoFileCompletions
		}
	})
	return root
}

// walk calls fn for c and every command under it.
func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		walk(sub, fn)
	}
}

// groupRunE makes c, a command that only holds subcommands, refuse to run
// without one. Cobra would print the help of a group that cannot run and
// succeed, so that a typo (cedula bench tokn) exited 0; what names the
// subcommands in the messages ("scenario" for bench).
func groupRunE(c *cobra.Command, what string) {
	c.Args = cobra.ArbitraryArgs
	c.SuggestionsMinimumDistance = 2 // cobra's default, which only its own lookup would set
	c.RunE = func(cmd *cobra.Command, args []string) error {
		var names []string
		for _, sub := range cmd.Commands() {
			if sub.IsAvailableCommand() && sub.Name() != "help" {
				names = append(names, sub.Name())
			}
		}
		list := strings.Join(names, ", ")
		switch {
		case len(args) == 0:
			fmt.Fprint(cmd.ErrOrStderr(), cmd.UsageString())
			return fmt.Errorf("%s needs a %s: %s", cmd.CommandPath(), what, list)
		case args[0] == "help":
			return cmd.Help()
		}
		hint := ""
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			hint = fmt.Sprintf("; did you mean %s?", strings.Join(s, " or "))
		}
		return fmt.Errorf("%s: unknown %s %q (%s)%s", cmd.CommandPath(), what, args[0], list, hint)
	}
}

// runWith makes the RunE of a command whose work is fn: fn gets the
// options as the flags left them, and the command's output.
func runWith[O any](o *O, fn func(context.Context, O, io.Writer) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error { return fn(cmd.Context(), *o, cmd.OutOrStdout()) }
}

// noArgs refuses positional arguments, naming the first.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%s: unexpected argument %q", cmd.CommandPath(), args[0])
	}
	return nil
}

// flagError names the command whose flags were wrong. An unknown flag keeps
// the words of the flag package that Cedula used before (scripts and people
// know them), and a long flag given with one dash (-db, which pflag reads
// as the shorthands d and b) gets the hint it needs.
func flagError(cmd *cobra.Command, err error) error {
	var ne *pflag.NotExistError
	if !errors.As(err, &ne) {
		return fmt.Errorf("%s: %w", cmd.CommandPath(), err)
	}
	if short := ne.GetSpecifiedShortnames(); short != "" {
		name, _, _ := strings.Cut(short, "=")
		if cmd.Flags().Lookup(name) != nil {
			return fmt.Errorf("%s: flag provided but not defined: -%s (use --%s: long flags take two dashes)", cmd.CommandPath(), name, name)
		}
		return fmt.Errorf("%s: flag provided but not defined: -%s", cmd.CommandPath(), short)
	}
	return fmt.Errorf("%s: flag provided but not defined: --%s", cmd.CommandPath(), ne.GetSpecifiedName())
}

// serverFlags are the flags of the commands that work on a server's
// configuration (serve, migrate, keys, admin). They are persistent flags
// of each, so that they may stand before or after a subcommand (cedula
// admin --data-dir X client add …); bench and audit do not have them.
type serverFlags struct {
	configFile, db, keys, listen, publicURL, dataDir string
	adminListen                                      string
	demo                                             bool

	// cfg and log are what load made of the flags, the environment and
	// the file, before the command runs.
	cfg config.Config
	log *slog.Logger
}

// addTo gives cmd (and its subcommands) the flags, and loads the
// configuration before any of them runs.
func (s *serverFlags) addTo(cmd *cobra.Command) {
	fs := cmd.PersistentFlags()
	fs.StringVar(&s.configFile, "config", os.Getenv("CEDULA_CONFIG"), "YAML configuration `file`")
	fs.StringVar(&s.db, "db", "", "database: a SQLite path or postgres://… (default ./data/cedula.db)")
	fs.StringVar(&s.keys, "keys", "", "signing keys: local, or vault://HOST:PORT[/MOUNT] with VAULT_TOKEN or AppRole")
	fs.StringVar(&s.listen, "listen", "", "`address` to listen on (default 127.0.0.1:8080)")
	fs.StringVar(&s.adminListen, "admin-listen", "", "`address` of the admin listener: /metrics, pprof, probes (default 127.0.0.1:9090; off disables it)")
	fs.StringVar(&s.publicURL, "public-url", "", "public `URL` and issuer (default http://localhost:8080)")
	fs.StringVar(&s.dataDir, "data-dir", "", "`folder` for the SQLite file, local keystore and secrets (default ./data)")
	fs.BoolVar(&s.demo, "demo", false, "register a demo agency and fictional citizens, and print what to open")
	cmd.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return s.load(cmd.ErrOrStderr()) }
}

// load builds and validates the configuration, and the logger that writes
// to stderr.
func (s *serverFlags) load(stderr io.Writer) error {
	cfg, err := config.Load(s.configFile, os.Getenv)
	if err != nil {
		return err
	}
	for _, o := range []struct {
		dst *string
		v   string
	}{{&cfg.DB, s.db}, {&cfg.Keys, s.keys}, {&cfg.Listen, s.listen}, {&cfg.PublicURL, s.publicURL}, {&cfg.DataDir, s.dataDir}} {
		if o.v != "" {
			*o.dst = o.v
		}
	}
	if s.adminListen != "" {
		cfg.AdminListen = config.AdminListenValue(s.adminListen)
	}
	if s.demo {
		cfg.Demo = true
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	s.log = slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(s.log) // libraries that log through the default logger
	s.cfg = cfg
	return nil
}
