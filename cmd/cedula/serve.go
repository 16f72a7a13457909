package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/issuer/sqlstore"
)

// serverGCPercent is the server's garbage-collection target unless GOGC is
// set: its live heap is small (tens of MiB), so trading some memory for
// less collection work buys token throughput (see the README's figures).
const serverGCPercent = 400

func newServeCmd() *cobra.Command {
	sf := &serverFlags{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server (SQLite and local keys by default)",
		Long: `Run the server: the citizens' pages, the OpenID provider, the consent ledger
and the audit log on --listen; /metrics, pprof and the probes on --admin-listen.
With no configuration it keeps everything in ./data: a SQLite database and a
local encrypted keystore.`,
		Example: "  cedula serve --demo\n  cedula serve --config /etc/cedula/cedula.yaml",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), sf.cfg, sf.log, cmd.OutOrStdout())
		},
	}
	sf.addTo(cmd)
	return cmd
}

func newMigrateCmd() *cobra.Command {
	sf := &serverFlags{}
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply database migrations and exit",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return migrate(cmd.Context(), sf.cfg, cmd.OutOrStdout())
		},
	}
	sf.addTo(cmd)
	return cmd
}

func serve(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serverGCPercent)
	}
	if !sqlstore.TokenAudit {
		log.Warn("BENCHMARK-ONLY BUILD (tag cedula_noaudit): access tokens are issued without their audit entry; never serve anyone with it")
		fmt.Fprintln(stdout, "BENCHMARK-ONLY BUILD: tokens are not audited.")
	}
	s, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer s.Close()
	if cfg.Demo {
		if err := app.SeedDemo(ctx, s, stdout); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	// The verifier key is public: logged so that the operator finds what
	// to publish out of band (cedula keys list prints it too).
	vkeys, err := s.AuditVerifierKeys(ctx)
	if err != nil {
		return fmt.Errorf("audit log verifier key: %w", err)
	}
	log.Info("audit log verifier key: publish it out of band; verifiers pin it with cedula audit verify --key",
		"origin", s.Checkpointer.Origin(), "verifier_key", vkeys[0], "retired_verifier_keys", vkeys[1:])
	return s.Run(ctx, func(a app.Addrs) {
		log.Info("serving", "listen", a.Public, "admin_listen", a.Admin, "public_url", cfg.PublicURL, "db", dbKind(cfg), "keys", keysKind(cfg))
		fmt.Fprintf(stdout, "Cedula is listening on %s — open %s\n", a.Public, cfg.PublicURL)
	})
}

func dbKind(cfg config.Config) string {
	if d := cfg.DatabaseURL(); strings.HasPrefix(d, "postgres://") || strings.HasPrefix(d, "postgresql://") {
		return "postgres"
	}
	return "sqlite"
}

func keysKind(cfg config.Config) string {
	if strings.HasPrefix(cfg.Keys, "vault") {
		return "vault"
	}
	return "local"
}

func migrate(ctx context.Context, cfg config.Config, stdout io.Writer) error {
	d, err := db.Open(ctx, cfg.DatabaseURL())
	if err != nil {
		return err
	}
	defer d.Close()
	n, err := d.Migrate(ctx, sqlstore.Migrations)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "applied %d migration(s) to %s\n", n, dbKind(cfg))
	return nil
}
