package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/keys/backend"
)

const keysUsage = `Usage:
  cedula keys rotate [--ring oidc] [--alg ES256|EdDSA|RS256]
  cedula keys list   [--ring NAME]

rotate makes a new active key for the ring and retires the previous one,
which stays in the published key set for key_retention (running servers
pick the new key up within about a second). list shows the keys each ring
publishes: kid, algorithm, creation and retirement times.
`

// runKeys implements "cedula keys rotate|list".
func runKeys(ctx context.Context, cfg *config.Config, args []string) error {
	return keysCommand(ctx, cfg, args, os.Stdout, os.Stderr)
}

func keysCommand(ctx context.Context, cfg *config.Config, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return errors.New("cedula keys needs rotate or list")
	}
	switch args[0] {
	case "rotate":
		return keysRotate(ctx, cfg, args[1:], stdout, stderr)
	case "list":
		return keysList(ctx, cfg, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, keysUsage)
		return nil
	}
	fmt.Fprint(stderr, keysUsage)
	return fmt.Errorf("cedula keys: unknown subcommand %q", args[0])
}

func keysRotate(ctx context.Context, cfg *config.Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cedula keys rotate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ring := fs.String("ring", "oidc", "key ring to rotate")
	algFlag := fs.String("alg", "", "algorithm: ES256, EdDSA or RS256 (default: the ring's current algorithm, ES256 for a new ring)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("cedula keys rotate: unexpected argument %q", fs.Arg(0))
	}
	if !keys.ValidRing(*ring) {
		return fmt.Errorf("cedula keys rotate: --ring %q: %w (a–z, 0–9 and '-', at most 64)", *ring, keys.ErrBadName)
	}
	var alg keys.Alg
	if *algFlag != "" {
		var err error
		if alg, err = parseAlg(*algFlag); err != nil {
			return fmt.Errorf("cedula keys rotate: --alg: %w", err)
		}
	}
	m, err := openKeyManager(ctx, cfg)
	if err != nil {
		return err
	}
	current, err := m.Verification(ctx, *ring)
	if err != nil {
		return err
	}
	if alg == "" {
		alg = keys.ES256
		if len(current) > 0 {
			alg = current[0].Alg
		}
	}
	k, err := m.Rotate(ctx, *ring, alg)
	if err != nil {
		return err
	}
	if len(current) > 0 {
		fmt.Fprintf(stdout, "ring %s: new active key %s (%s); %s stays published for %s\n",
			*ring, k.ID(), k.Alg(), current[0].ID, cfg.KeyRetention.D())
	} else {
		fmt.Fprintf(stdout, "ring %s: created with active key %s (%s)\n", *ring, k.ID(), k.Alg())
	}
	return nil
}

func keysList(ctx context.Context, cfg *config.Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cedula keys list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	only := fs.String("ring", "", "list only this ring")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("cedula keys list: unexpected argument %q", fs.Arg(0))
	}
	m, err := openKeyManager(ctx, cfg)
	if err != nil {
		return err
	}
	rings := []string{*only}
	if *only == "" {
		if rings, err = m.Rings(ctx); err != nil {
			return err
		}
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RING\tKID\tALG\tCREATED\tRETIRED")
	for _, ring := range rings {
		pubs, err := m.Verification(ctx, ring)
		if err != nil {
			return err
		}
		for _, p := range pubs {
			retired := "active"
			if !p.Retired.IsZero() {
				retired = p.Retired.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ring, p.ID, p.Alg, p.Created.UTC().Format(time.RFC3339), retired)
		}
	}
	return tw.Flush()
}

// openKeyManager opens the key backend the configuration names.
func openKeyManager(ctx context.Context, cfg *config.Config) (keys.Manager, error) {
	m, err := backend.Open(ctx, backend.Config{URL: cfg.Keys, DataDir: cfg.DataDir, Retention: cfg.KeyRetention.D()})
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return m, nil
}

// parseAlg accepts an algorithm name in any letter case.
func parseAlg(s string) (keys.Alg, error) {
	for _, a := range []keys.Alg{keys.ES256, keys.EdDSA, keys.RS256} {
		if strings.EqualFold(s, string(a)) {
			return a, nil
		}
	}
	return "", fmt.Errorf("%w: %q (want ES256, EdDSA or RS256)", keys.ErrUnsupportedAlg, s)
}
