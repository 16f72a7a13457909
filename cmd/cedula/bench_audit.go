package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/cedula/cedula/audit"
	auditstore "github.com/cedula/cedula/audit/sqlstore"
	"github.com/cedula/cedula/internal/bench"
	"github.com/cedula/cedula/internal/db"
)

// benchAuditOptions are the flags of cedula bench audit.
type benchAuditOptions struct {
	load loadFlags
	db   string
}

func newBenchAuditCmd() *cobra.Command {
	var o benchAuditOptions
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Measure durable audit appends per second against fdatasync",
		Long: `Measure durable audit appends per second at concurrency 1 and --concurrency
against F, bare fdatasync per second on the same disk, in one run.`,
		Example: "  cedula bench audit\n  cedula bench audit --db postgres://…",
		Args:    noArgs,
		RunE:    runWith(&o, benchAudit),
	}
	o.load.add(cmd.Flags(), defaultConcurrency)
	cmd.Flags().StringVar(&o.db, "db", "", "database: a postgres:// URL, or empty for a new SQLite file in a temporary folder (whose disk F measures)")
	return cmd
}

// benchAudit measures durable audit appends per second at concurrency 1
// and 64 (or --concurrency) against F, bare fdatasync per second on the
// same disk, in the same run.
func benchAudit(ctx context.Context, o benchAuditOptions, stdout io.Writer) error {
	lf := &o.load
	dir, err := os.MkdirTemp("", "cedula-bench-audit-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	url := o.db
	if url == "" {
		url = filepath.Join(dir, "audit.db")
	}
	d, err := db.Open(ctx, url)
	if err != nil {
		return err
	}
	defer d.Close()
	if _, err := d.Migrate(ctx, auditstore.Migrations); err != nil {
		return err
	}
	log := auditstore.New(d)
	defer log.Close()
	var n atomic.Int64
	appendOne := func(ctx context.Context) error {
		_, err := log.Append(ctx, audit.Entry{Actor: audit.Actor{Kind: audit.ActorSystem, ID: "bench"}, Action: "bench.append",
			Subject: fmt.Sprintf("s-%d", n.Add(1)), Purpose: "dpv:ServiceProvision", Outcome: audit.Allowed})
		return err
	}
	fsync, cleanup, err := bench.FsyncOp(dir)
	if err != nil {
		return err
	}
	defer cleanup()
	var results []bench.Result
	run := func(name string, conc int, op func(context.Context) error) (bench.Result, error) {
		o := lf.options(name, stdout)
		o.Concurrency = conc
		r, err := bench.Run(ctx, o, op)
		if err == nil && r.Ops == 0 {
			err = fmt.Errorf("%s: nothing succeeded; first error: %s", name, r.FirstError)
		}
		results = append(results, r)
		return r, err
	}
	f, err := run("fdatasync", 1, fsync)
	if err != nil {
		return err
	}
	a1, err := run("append", 1, appendOne)
	if err != nil {
		return err
	}
	an, err := run("append", lf.concurrency, appendOne)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	if err := bench.WriteTable(stdout, results...); err != nil {
		return err
	}
	size, _ := log.Size(ctx)
	tx, items := log.GroupCommits()
	per := 0.0
	if tx > 0 {
		per = float64(items) / float64(tx)
	}
	fmt.Fprintf(stdout, "F = %.0f fdatasync/s; appends at concurrency 1 = %.2f × F, at %d = %.2f × F; %d entries, %.1f appends per transaction (%s, %s)\n",
		f.Throughput, a1.Throughput/f.Throughput, lf.concurrency, an.Throughput/f.Throughput, size, per, d.Dialect, time.Now().UTC().Format(time.RFC3339))
	return nil
}
