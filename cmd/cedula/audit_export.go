package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/auditclient"
)

const verifyExportUsage = `Usage:
  cedula audit verify-export --file EXPORT --export-keys JWKS (--key VKEY | --key-file FILE)
      check a DPO export (GET /dpo/audit/export) offline: the ES256 signature
      of its last line over the whole body (keys: GET /dpo/audit/export-keys,
      saved), the log's signature on the checkpoint it carries (the log's
      pinned verifier key), and every entry's inclusion proof in that
      checkpoint's tree. Exits non-zero naming the first problem.
`

// auditVerifyExport runs `cedula audit verify-export`.
func auditVerifyExport(_ context.Context, args []string, stdout io.Writer) error {
	f := newAuditFlags("verify-export", stdout)
	f.fs.Usage = func() { fmt.Fprint(stdout, verifyExportUsage) }
	file := f.fs.String("file", "", "the export, as downloaded")
	keysFile := f.fs.String("export-keys", "", "the JWKS of the export signing keys, as downloaded")
	if err := f.parse(args); err != nil {
		return err
	}
	if *file == "" || *keysFile == "" {
		return errors.New("cedula audit verify-export: give --file and --export-keys")
	}
	vkeys := append([]string(nil), f.keys...)
	if f.keyFile != "" {
		b, err := os.ReadFile(f.keyFile)
		if err != nil {
			return fmt.Errorf("key file: %w", err)
		}
		vkeys = append(vkeys, auditclient.KeyLines(b)...)
	}
	if len(vkeys) == 0 {
		return errors.New("cedula audit verify-export: give the log's verifier key with --key or --key-file: without it the checkpoint proves nothing")
	}
	verifiers, err := audit.Verifiers(vkeys...)
	if err != nil {
		return err
	}
	body, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	jwks, err := os.ReadFile(*keysFile)
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
