package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cedula/cedula/audit/auditclient"
)

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify or mirror an audit log, check a DPO export",
		Long: `Check an audit log from outside the server, over HTTP or from a copy of its
tiles, mirror it, or check a DPO export offline.

URL is the log's prefix (C2SP tlog-tiles), e.g. https://cedula.example.gov.uy/audit:
the checkpoint is at URL/checkpoint and the tiles under URL/tile/. DIR holds the
same paths: DIR/checkpoint, DIR/key, DIR/tile/….

Pin the log's key: pass the verifier key (name+hash+base64) that the operator
publishes out of band — on their website, in an official gazette, in a
transparency report; cedula keys list prints it on the server — with --key
(repeatable: after a key rotation, pin the old and the new key) or --key-file
(one per line, # comments allowed). verify and mirror refuse to run without a
pinned key unless given --trust-served-key, which checks with the key the log
itself serves at URL/key (or DIR/key): that proves nothing against the
operator, and a warning says so.`,
		Example: `  cedula audit verify --url URL (--key VKEY | --key-file FILE | --trust-served-key) [--checkpoint SAVED] [--save FILE]
  cedula audit verify --dir DIR (--key VKEY | --key-file FILE | --trust-served-key) [--checkpoint SAVED] [--save FILE]
  cedula audit mirror --url URL --dir DIR (--key VKEY | --key-file FILE | --trust-served-key)
  cedula audit verify-export --file EXPORT --export-keys JWKS (--key VKEY | --key-file FILE)`,
	}
	cmd.AddCommand(newAuditVerifyCmd(), newAuditMirrorCmd(), newAuditVerifyExportCmd())
	groupRunE(cmd, "subcommand")
	return cmd
}

// pinnedKeys are the flags that pin the log's verifier keys.
type pinnedKeys struct {
	keys    []string
	keyFile string
}

func (p *pinnedKeys) add(fs *pflag.FlagSet) {
	fs.StringArrayVar(&p.keys, "key", nil, "the log's verifier `key`, name+hash+base64 (repeatable)")
	fs.StringVar(&p.keyFile, "key-file", "", "a `file` of verifier keys, one per line")
}

// read returns the keys of --key and --key-file.
func (p *pinnedKeys) read() ([]string, error) {
	vkeys := append([]string(nil), p.keys...)
	if p.keyFile == "" {
		return vkeys, nil
	}
	b, err := os.ReadFile(p.keyFile)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	return append(vkeys, auditclient.KeyLines(b)...), nil
}

// auditFlags are the flags verify and mirror share.
type auditFlags struct {
	url, dir string
	pinned   pinnedKeys
	// trustServed admits the key the log serves when none is pinned.
	trustServed bool
}

func (f *auditFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.url, "url", "", "the log's `URL` prefix, e.g. https://cedula.example.gov.uy/audit")
	fs.StringVar(&f.dir, "dir", "", "a copy of the log in a folder: `DIR`/checkpoint, DIR/tile/…")
	f.pinned.add(fs)
	fs.BoolVar(&f.trustServed, "trust-served-key", false,
		"without --key or --key-file, check with the key the log itself serves (proves nothing against its operator)")
}

func newAuditMirrorCmd() *cobra.Command {
	var f auditFlags
	cmd := &cobra.Command{
		Use:   "mirror",
		Short: "Copy an audit log into a folder that any static file server can serve",
		Long: `Copy the log at --url (checkpoint, key, tiles and entry bundles) into --dir so
that any static file server can serve it. Only what is new is fetched, and the
copy is verified before its checkpoint is replaced.`,
		Example: "  cedula audit mirror --url https://cedula.example.gov.uy/audit --dir mirror --key-file log.keys",
		Args:    noArgs,
		RunE:    runWith(&f, auditMirror),
	}
	f.add(cmd.Flags())
	return cmd
}

func auditMirror(ctx context.Context, f auditFlags, stdout io.Writer) error {
	if f.url == "" || f.dir == "" {
		return errors.New("cedula audit mirror: give --url and --dir")
	}
	src, err := auditclient.HTTPSource(f.url)
	if err != nil {
		return err
	}
	lk, err := f.loadKeys(ctx, src, "cedula audit mirror", stdout)
	if err != nil {
		return err
	}
	fetched, res, err := auditclient.Mirror(ctx, src, f.dir, lk)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ok: mirrored %s into %s (%d files fetched); %s\n", f.url, f.dir, fetched, res.Summary(auditclient.DirSource(nil, f.dir)))
	return nil
}

// loadKeys reads the keys of --key and --key-file or, without them and
// with --trust-served-key, the key the log serves, with a warning; who names
// the command in an error.
func (f *auditFlags) loadKeys(ctx context.Context, src auditclient.Source, who string, stdout io.Writer) (auditclient.Keys, error) {
	vkeys, err := f.pinned.read()
	if err != nil {
		return auditclient.Keys{}, err
	}
	if f.pinned.keyFile != "" && len(vkeys) == 0 {
		return auditclient.Keys{}, fmt.Errorf("key file %s holds no key", f.pinned.keyFile)
	}
	lk, err := auditclient.LoadKeys(ctx, vkeys, f.trustServed, src, stdout)
	if errors.Is(err, auditclient.ErrNoPinnedKey) {
		return lk, fmt.Errorf("%s: %w", who, err)
	}
	return lk, err
}

// auditVerifyOptions are the flags of cedula audit verify.
type auditVerifyOptions struct {
	auditFlags
	checkpoint, save string
}

func newAuditVerifyCmd() *cobra.Command {
	var o auditVerifyOptions
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check a whole audit log, over HTTP or from a copy on disk",
		Long: `Check a whole audit log, at --url or in --dir: the checkpoint's signature,
every entry against its leaf hash, every tile, the root, and — with
--checkpoint — that the log still extends a checkpoint saved earlier (--save
keeps the one just verified, for the next run).

verify exits non-zero on the first problem, naming the first bad entry as
"entry N: …"; it prints one line when all is well.`,
		Example: `  cedula keys list --verifier-keys > log.keys   # on the server; published by the operator
  cedula audit verify --url https://cedula.example.gov.uy/audit --key-file log.keys --save seen.txt
  cedula audit verify --url https://cedula.example.gov.uy/audit --key-file log.keys --checkpoint seen.txt`,
		Args: noArgs,
		RunE: runWith(&o, auditVerify),
	}
	o.add(cmd.Flags())
	cmd.Flags().StringVar(&o.checkpoint, "checkpoint", "", "a `file` with a checkpoint saved earlier: the log must still extend it")
	cmd.Flags().StringVar(&o.save, "save", "", "write the verified checkpoint to this `file`, for a later --checkpoint")
	return cmd
}

func auditVerify(ctx context.Context, o auditVerifyOptions, stdout io.Writer) error {
	f := &o.auditFlags
	var src auditclient.Source
	switch {
	case (f.url == "") == (f.dir == ""):
		return errors.New("cedula audit verify: give either --url or --dir")
	case f.url != "":
		s, err := auditclient.HTTPSource(f.url)
		if err != nil {
			return err
		}
		src = s
	default:
		root, err := os.OpenRoot(f.dir)
		if err != nil {
			return fmt.Errorf("cedula audit verify: %w", err)
		}
		defer root.Close()
		src = auditclient.DirSource(root, f.dir)
	}
	var saved []byte
	if o.checkpoint != "" {
		b, err := os.ReadFile(o.checkpoint)
		if err != nil {
			return fmt.Errorf("saved checkpoint: %w", err)
		}
		saved = b
	}
	lk, err := f.loadKeys(ctx, src, "cedula audit verify", stdout)
	if err != nil {
		return err
	}
	cpNote, err := auditclient.ReadCheckpoint(ctx, src)
	if err != nil {
		return err
	}
	res, err := auditclient.Verify(ctx, src, lk, cpNote, saved)
	if err != nil {
		return err
	}
	if o.save != "" {
		if err := os.WriteFile(o.save, cpNote, 0o644); err != nil {
			return fmt.Errorf("save the checkpoint: %w", err)
		}
	}
	fmt.Fprintf(stdout, "ok: %s\n", res.Summary(src))
	return nil
}
