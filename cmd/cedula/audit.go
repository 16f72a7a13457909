package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/cedula/cedula/audit/auditclient"
)

const auditUsage = `Usage:
  cedula audit verify --url URL (--key VKEY | --key-file FILE | --trust-served-key) [--checkpoint SAVED] [--save FILE]
  cedula audit verify --dir DIR (--key VKEY | --key-file FILE | --trust-served-key) [--checkpoint SAVED] [--save FILE]
      check a whole audit log: the checkpoint's signature, every entry against
      its leaf hash, every tile, the root, and — with --checkpoint — that the
      log still extends a checkpoint saved earlier
  cedula audit mirror --url URL --dir DIR (--key VKEY | --key-file FILE | --trust-served-key)
      copy the log (checkpoint, key, tiles and entry bundles) into DIR so that
      any static file server can serve it; only what is new is fetched, and
      the copy is verified before its checkpoint is replaced
  cedula audit verify-export --file EXPORT --export-keys JWKS (--key VKEY | --key-file FILE)
      check a DPO export offline: its signature, the checkpoint's, and every
      entry's inclusion proof

URL is the log's prefix (C2SP tlog-tiles), e.g. https://cedula.example.gov.uy/audit:
the checkpoint is at URL/checkpoint and the tiles under URL/tile/. DIR holds the
same paths: DIR/checkpoint, DIR/key, DIR/tile/….

Pin the log's key: pass the verifier key (name+hash+base64) that the operator
publishes out of band — on their website, in an official gazette, in a
transparency report; ` + "`cedula keys list`" + ` prints it on the server — with --key
(repeatable: after a key rotation, pin the old and the new key) or --key-file
(one per line, # comments allowed). verify and mirror refuse to run without a
pinned key unless given --trust-served-key, which checks with the key the log
itself serves at URL/key (or DIR/key): that proves nothing against the
operator, and a warning says so.

verify exits non-zero on the first problem, naming the first bad entry as
"entry N: …"; it prints one line when all is well.
`

// runAudit runs `cedula audit verify|mirror …`.
func runAudit(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, auditUsage)
		return errors.New("cedula audit needs a subcommand: verify, mirror or verify-export")
	}
	switch args[0] {
	case "verify":
		return auditVerify(ctx, args[1:], stdout)
	case "mirror":
		return auditMirror(ctx, args[1:], stdout)
	case "verify-export":
		return auditVerifyExport(ctx, args[1:], stdout)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, auditUsage)
		return nil
	}
	return fmt.Errorf("cedula audit: unknown subcommand %q (verify, mirror)", args[0])
}

// auditFlags are the flags verify and mirror share.
type auditFlags struct {
	fs       *flag.FlagSet
	url, dir string
	keys     multi
	keyFile  string
	// trustServed admits the key the log serves when none is pinned.
	trustServed bool
}

func newAuditFlags(name string, stdout io.Writer) *auditFlags {
	f := &auditFlags{fs: flag.NewFlagSet("cedula audit "+name, flag.ContinueOnError)}
	f.fs.SetOutput(stdout)
	f.fs.Usage = func() { fmt.Fprint(stdout, auditUsage) }
	f.fs.StringVar(&f.url, "url", "", "the log's URL prefix, e.g. https://cedula.example.gov.uy/audit")
	f.fs.StringVar(&f.dir, "dir", "", "a copy of the log on disk (DIR/checkpoint, DIR/tile/…)")
	f.fs.Var(&f.keys, "key", "the log's verifier key, name+hash+base64 (repeatable)")
	f.fs.StringVar(&f.keyFile, "key-file", "", "a file of verifier keys, one per line")
	return f
}

// allowServedKey adds --trust-served-key (verify and mirror; an export is
// never checked against a key it does not pin).
func (f *auditFlags) allowServedKey() {
	f.fs.BoolVar(&f.trustServed, "trust-served-key", false,
		"without --key or --key-file, check with the key the log itself serves (proves nothing against its operator)")
}

func (f *auditFlags) parse(args []string) error {
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	if f.fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", f.fs.Name(), f.fs.Arg(0))
	}
	return nil
}

func auditMirror(ctx context.Context, args []string, stdout io.Writer) error {
	f := newAuditFlags("mirror", stdout)
	f.allowServedKey()
	if err := f.parse(args); err != nil {
		return err
	}
	if f.url == "" || f.dir == "" {
		return errors.New("cedula audit mirror: give --url and --dir")
	}
	src, err := auditclient.HTTPSource(f.url)
	if err != nil {
		return err
	}
	lk, err := f.loadKeys(ctx, src, stdout)
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
// with --trust-served-key, the key the log serves, with a warning.
func (f *auditFlags) loadKeys(ctx context.Context, src auditclient.Source, stdout io.Writer) (auditclient.Keys, error) {
	vkeys := append([]string(nil), f.keys...)
	if f.keyFile != "" {
		b, err := os.ReadFile(f.keyFile)
		if err != nil {
			return auditclient.Keys{}, fmt.Errorf("key file: %w", err)
		}
		vkeys = append(vkeys, auditclient.KeyLines(b)...)
		if len(vkeys) == 0 {
			return auditclient.Keys{}, fmt.Errorf("key file %s holds no key", f.keyFile)
		}
	}
	lk, err := auditclient.LoadKeys(ctx, vkeys, f.trustServed, src, stdout)
	if errors.Is(err, auditclient.ErrNoPinnedKey) {
		return lk, fmt.Errorf("%s: %w", f.fs.Name(), err)
	}
	return lk, err
}

func auditVerify(ctx context.Context, args []string, stdout io.Writer) error {
	f := newAuditFlags("verify", stdout)
	f.allowServedKey()
	savedPath := f.fs.String("checkpoint", "", "a checkpoint saved earlier: the log must still extend it")
	savePath := f.fs.String("save", "", "write the verified checkpoint to this file, for a later --checkpoint")
	if err := f.parse(args); err != nil {
		return err
	}
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
	if *savedPath != "" {
		b, err := os.ReadFile(*savedPath)
		if err != nil {
			return fmt.Errorf("saved checkpoint: %w", err)
		}
		saved = b
	}
	lk, err := f.loadKeys(ctx, src, stdout)
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
	if *savePath != "" {
		if err := os.WriteFile(*savePath, cpNote, 0o644); err != nil {
			return fmt.Errorf("save the checkpoint: %w", err)
		}
	}
	fmt.Fprintf(stdout, "ok: %s\n", res.Summary(src))
	return nil
}
