// Command cedula is Cedula's one binary: the server, its migrations, key
// rotation, administration and the load generator.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/cedula/cedula/internal/config"
)

const usage = `Cedula — citizen identity wallet and consent service.

Usage:
  cedula serve   [flags]            run the server (SQLite and local keys by default)
  cedula migrate [flags]            apply database migrations and exit
  cedula keys rotate|list [flags]   rotate or list signing keys
  cedula admin citizen|enrol|client add|grant|revoke  manage citizens, enrolment links, agency clients and their privileged scopes
  cedula admin end-sessions --citizen ID              end a citizen's sessions (a lost device); agencies are told
  cedula bench reference|token …    load generator (see cedula bench -h)
  cedula audit verify|mirror …      check an audit log (over HTTP or from a copy of its tiles) or mirror it

Common flags (also CEDULA_* environment variables and a YAML file):
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "cedula:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		commonFlags(flag.NewFlagSet("cedula", flag.ContinueOnError)).fs.PrintDefaults()
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "bench":
		return runBench(ctx, rest, stdout)
	case "audit":
		return runAudit(ctx, rest, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		commonFlags(flag.NewFlagSet("cedula", flag.ContinueOnError)).fs.PrintDefaults()
		return nil
	}
	cf := commonFlags(flag.NewFlagSet("cedula "+cmd, flag.ContinueOnError))
	cf.fs.SetOutput(stderr)
	var sub []string
	switch cmd {
	case "keys", "admin":
		if len(rest) == 0 {
			return fmt.Errorf("cedula %s needs a subcommand", cmd)
		}
		// The subcommand's own flags stay with it; the common ones (--db,
		// --keys, …) may appear anywhere.
		sub = append([]string{rest[0]}, leftover(cf.fs, rest[1:])...)
		rest = splitCommon(cf.fs, rest[1:])
	}
	cfg, log, remaining, err := cf.load(rest, stderr)
	if err != nil {
		return err
	}
	switch cmd {
	case "serve":
		return serve(ctx, cfg, log, stdout)
	case "migrate":
		return migrate(ctx, cfg, stdout)
	case "keys":
		return runKeys(ctx, &cfg, append(sub, remaining...))
	case "admin":
		return runAdmin(ctx, cfg, log, append(sub, remaining...), stdout)
	}
	return fmt.Errorf("unknown command %q (try cedula help)", cmd)
}

// common holds the flags every server-side command shares.
type common struct {
	fs                                               *flag.FlagSet
	configFile, db, keys, listen, publicURL, dataDir string
	adminListen                                      string
	demo                                             bool
}

func commonFlags(fs *flag.FlagSet) *common {
	c := &common{fs: fs}
	fs.StringVar(&c.configFile, "config", os.Getenv("CEDULA_CONFIG"), "YAML configuration file")
	fs.StringVar(&c.db, "db", "", "database: a SQLite path or postgres://… (default ./data/cedula.db)")
	fs.StringVar(&c.keys, "keys", "", "signing keys: local, or vault://HOST:PORT[/MOUNT] with VAULT_TOKEN or AppRole")
	fs.StringVar(&c.listen, "listen", "", "address to listen on (default 127.0.0.1:8080)")
	fs.StringVar(&c.adminListen, "admin-listen", "", "address of the admin listener: /metrics, pprof, probes (default 127.0.0.1:9090; off disables it)")
	fs.StringVar(&c.publicURL, "public-url", "", "public URL and issuer (default http://localhost:8080)")
	fs.StringVar(&c.dataDir, "data-dir", "", "folder for the SQLite file, local keystore and secrets (default ./data)")
	fs.BoolVar(&c.demo, "demo", false, "register a demo agency and fictional citizens, and print what to open")
	return c
}

// load parses args, then builds and validates the configuration; it returns
// the arguments after the flags.
func (c *common) load(args []string, stderr io.Writer) (config.Config, *slog.Logger, []string, error) {
	if err := c.fs.Parse(args); err != nil {
		return config.Config{}, nil, nil, err
	}
	cfg, err := config.Load(c.configFile, os.Getenv)
	if err != nil {
		return cfg, nil, nil, err
	}
	for _, o := range []struct {
		dst *string
		v   string
	}{{&cfg.DB, c.db}, {&cfg.Keys, c.keys}, {&cfg.Listen, c.listen}, {&cfg.PublicURL, c.publicURL}, {&cfg.DataDir, c.dataDir}} {
		if o.v != "" {
			*o.dst = o.v
		}
	}
	if c.adminListen != "" {
		cfg.AdminListen = config.AdminListenValue(c.adminListen)
	}
	if c.demo {
		cfg.Demo = true
	}
	if err := cfg.Validate(); err != nil {
		return cfg, nil, nil, err
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log) // libraries that log through the default logger
	return cfg, log, c.fs.Args(), nil
}

// isCommon reports whether arg names a flag of fs ("-db", "--db=x").
func isCommon(fs *flag.FlagSet, arg string) (name string, ok bool) {
	if len(arg) < 2 || arg[0] != '-' {
		return "", false
	}
	name = strings.TrimLeft(arg, "-")
	name, _, _ = strings.Cut(name, "=")
	return name, fs.Lookup(name) != nil
}

// splitCommon returns the arguments of args that are fs's flags (with their
// values).
func splitCommon(fs *flag.FlagSet, args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		name, ok := isCommon(fs, args[i])
		if !ok {
			continue
		}
		out = append(out, args[i])
		if !strings.Contains(args[i], "=") && !isBool(fs, name) && i+1 < len(args) {
			out = append(out, args[i+1])
			i++
		}
	}
	return out
}

// leftover returns the arguments of args that are not fs's flags.
func leftover(fs *flag.FlagSet, args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		name, ok := isCommon(fs, args[i])
		if !ok {
			out = append(out, args[i])
			continue
		}
		if !strings.Contains(args[i], "=") && !isBool(fs, name) {
			i++
		}
	}
	return out
}

func isBool(fs *flag.FlagSet, name string) bool {
	b, ok := fs.Lookup(name).Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}
