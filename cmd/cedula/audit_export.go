package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/auditclient"
)

// auditVerifyExportOptions are the flags of cedula audit verify-export.
type auditVerifyExportOptions struct {
	file, exportKeys string
	pinned           pinnedKeys
}

func newAuditVerifyExportCmd() *cobra.Command {
	var o auditVerifyExportOptions
	cmd := &cobra.Command{
		Use:   "verify-export",
		Short: "Check a DPO export of the audit log offline",
		Long: `Check a DPO export (GET /dpo/audit/export) offline: the ES256 signature of its
last line over the whole body (keys: GET /dpo/audit/export-keys, saved), the
log's signature on the checkpoint it carries (the log's pinned verifier key),
and every entry's inclusion proof in that checkpoint's tree. Exits non-zero
naming the first problem.`,
		Example: "  cedula audit verify-export --file export.jsonl --export-keys export-keys.json --key-file log.keys",
		Args:    noArgs,
		RunE:    runWith(&o, auditVerifyExport),
	}
	cmd.Flags().StringVar(&o.file, "file", "", "the export `file`, as downloaded")
	cmd.Flags().StringVar(&o.exportKeys, "export-keys", "", "a `file` with the JWKS of the export signing keys, as downloaded")
	o.pinned.add(cmd.Flags())
	return cmd
}

// auditVerifyExport runs cedula audit verify-export.
func auditVerifyExport(_ context.Context, o auditVerifyExportOptions, stdout io.Writer) error {
	if o.file == "" || o.exportKeys == "" {
		return errors.New("cedula audit verify-export: give --file and --export-keys")
	}
	vkeys, err := o.pinned.read()
	if err != nil {
		return err
	}
	if len(vkeys) == 0 {
		return errors.New("cedula audit verify-export: give the log's verifier key with --key or --key-file: without it the checkpoint proves nothing")
	}
	verifiers, err := audit.Verifiers(vkeys...)
	if err != nil {
		return err
	}
	body, err := os.ReadFile(o.file)
	if err != nil {
		return err
	}
	jwks, err := os.ReadFile(o.exportKeys)
	if err != nil {
		return err
	}
	cp, entries, err := auditclient.VerifyExport(body, jwks)
	if err != nil {
		return err
	}
	origin, _, _ := strings.Cut(cp.Checkpoint, "\n") // the note's first line names the log
	signed, err := audit.OpenCheckpoint([]byte(cp.Checkpoint), origin, verifiers)
	if err != nil {
		return fmt.Errorf("export: checkpoint: %w", err)
	}
	if signed.Size != cp.Size || signed.Root != cp.Root {
		return fmt.Errorf("export: the checkpoint line says size %d root %s, its signed note size %d root %s", cp.Size, cp.Root, signed.Size, signed.Root)
	}
	fmt.Fprintf(stdout, "ok: %d entries, each proven in the tree of size %d signed by %s\n", len(entries), signed.Size, signed.Origin)
	return nil
}
