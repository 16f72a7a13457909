package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/keys/backend"
)

func newKeysCmd(sf *serverFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Rotate or list signing keys",
		Long: `Rotate or list the server's signing keys, held in its keystore (--keys).

Running servers pick a rotated key up within about a second. The audit log's
verifier keys (C2SP signed-note, name+hash+base64, named after public_url) are
what the operator publishes out of band and verifiers pin with
cedula audit verify --key.`,
	}
	sf.addTo(cmd)

	var ro keysRotateOptions
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Make a new active key for a ring and retire the previous one",
		Long: `Make a new active key for the ring and retire the previous one, which stays
published for key_retention — for a century on the rings whose signatures are
kept (audit-checkpoint, consent-receipt, audit-export, citizen-export). A new
key of the audit-checkpoint ring prints its verifier key, to publish beside the
old one.`,
		Example: "  cedula keys rotate\n  cedula keys rotate --ring audit-checkpoint",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return keysRotate(cmd.Context(), &sf.cfg, ro, cmd.OutOrStdout())
		},
	}
	rotate.Flags().StringVar(&ro.ring, "ring", "oidc", "key `ring` to rotate")
	rotate.Flags().StringVar(&ro.alg, "alg", "", "algorithm: ES256, EdDSA or RS256 (default: the ring's current algorithm, ES256 for a new ring)")

	var lo keysListOptions
	list := &cobra.Command{
		Use:   "list",
		Short: "List the keys each ring publishes, and the audit log's verifier keys",
		Long: `List the keys each ring publishes — kid, algorithm, creation and retirement
times — then the audit log's verifier keys. --verifier-keys prints only those,
in the form of a --key-file of cedula audit verify.`,
		Example: "  cedula keys list\n  cedula keys list --verifier-keys > log.keys",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return keysList(cmd.Context(), &sf.cfg, lo, cmd.OutOrStdout())
		},
	}
	list.Flags().StringVar(&lo.ring, "ring", "", "list only this `ring`")
	list.Flags().BoolVar(&lo.verifierKeys, "verifier-keys", false, "print only the audit log's verifier keys, as a --key-file of cedula audit verify")

	cmd.AddCommand(rotate, list)
	groupRunE(cmd, "subcommand")
	return cmd
}

// keysRotateOptions are the flags of cedula keys rotate.
type keysRotateOptions struct {
	ring, alg string
}

func keysRotate(ctx context.Context, cfg *config.Config, o keysRotateOptions, stdout io.Writer) error {
	ring := o.ring
	if !keys.ValidRing(ring) {
		return fmt.Errorf("cedula keys rotate: --ring %q: %w (a–z, 0–9 and '-', at most 64)", ring, keys.ErrBadName)
	}
	var alg keys.Alg
	if o.alg != "" {
		var err error
		if alg, err = parseAlg(o.alg); err != nil {
			return fmt.Errorf("cedula keys rotate: --alg: %w", err)
		}
	}
	m, err := openKeyManager(ctx, cfg)
	if err != nil {
		return err
	}
	current, err := m.Verification(ctx, ring)
	if err != nil {
		return err
	}
	if want, ok := ringAlgs[ring]; ok {
		if alg != "" && alg != want {
			return fmt.Errorf("cedula keys rotate: ring %s holds %s keys only, not %s", ring, want, alg)
		}
		alg = want
	}
	if alg == "" {
		alg = keys.ES256
		if len(current) > 0 {
			alg = current[0].Alg
		}
	}
	k, err := m.Rotate(ctx, ring, alg)
	if err != nil {
		return err
	}
	if len(current) > 0 {
		fmt.Fprintf(stdout, "ring %s: new active key %s (%s); %s stays published for %s\n",
			ring, k.ID(), k.Alg(), current[0].ID, retention(cfg, ring))
	} else {
		fmt.Fprintf(stdout, "ring %s: created with active key %s (%s)\n", ring, k.ID(), k.Alg())
	}
	if ring == audit.CheckpointRing {
		vkey, err := audit.VerifierKey(app.AuditOrigin(cfg.PublicURL), k.Public())
		if err != nil {
			return err
		}
		what := "audit log verifier key — publish it out of band:"
		if len(current) > 0 {
			what = "new audit log verifier key — publish it beside the old one, which keeps verifying the checkpoints it signed:"
		}
		fmt.Fprintf(stdout, "%s\n%s\n", what, vkey)
	}
	return nil
}

// ringAlgs are the rings whose keys must be of one algorithm: checkpoints
// are signed notes, Ed25519 (C2SP tlog-checkpoint, "Signatures").
var ringAlgs = map[string]keys.Alg{audit.CheckpointRing: keys.EdDSA}

// retention is how long a retired key of ring stays published.
func retention(cfg *config.Config, ring string) string {
	if d, ok := app.LongLivedRings()[ring]; ok {
		return fmt.Sprintf("%d years", int(d.Hours()/24/365))
	}
	return cfg.KeyRetention.D().String()
}

// keysListOptions are the flags of cedula keys list.
type keysListOptions struct {
	ring         string
	verifierKeys bool
}

func keysList(ctx context.Context, cfg *config.Config, o keysListOptions, stdout io.Writer) error {
	m, err := openKeyManager(ctx, cfg)
	if err != nil {
		return err
	}
	if o.verifierKeys {
		return listVerifierKeys(ctx, cfg, m, stdout, true)
	}
	rings := []string{o.ring}
	if o.ring == "" {
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
	if err := tw.Flush(); err != nil {
		return err
	}
	if o.ring != "" && o.ring != audit.CheckpointRing {
		return nil
	}
	fmt.Fprintln(stdout)
	return listVerifierKeys(ctx, cfg, m, stdout, false)
}

// listVerifierKeys prints the verifier keys of the audit log's checkpoints
// — the active key and every retired one still published — each after a #
// comment that labels it, so that the output is a --key-file of cedula
// audit verify. With required, a missing ring is an error.
func listVerifierKeys(ctx context.Context, cfg *config.Config, m keys.Manager, stdout io.Writer, required bool) error {
	origin := app.AuditOrigin(cfg.PublicURL)
	pubs, err := m.Verification(ctx, audit.CheckpointRing)
	if err != nil {
		return err
	}
	if len(pubs) == 0 {
		if required {
			return errors.New("cedula keys list: the audit log has no checkpoint key yet; cedula serve makes one when it starts")
		}
		fmt.Fprintln(stdout, "# The audit log has no checkpoint key yet; cedula serve makes one when it starts.")
		return nil
	}
	fmt.Fprintf(stdout, "# Verifier keys of the audit log %s (its origin, from public_url), C2SP signed-note.\n", origin)
	fmt.Fprintln(stdout, "# Publish them out of band; verifiers pin every one with cedula audit verify --key or --key-file.")
	for _, p := range pubs {
		vkey, err := audit.VerifierKey(origin, p.Key)
		if err != nil {
			return fmt.Errorf("key %s: %w", p.ID, err)
		}
		if p.Retired.IsZero() {
			fmt.Fprintf(stdout, "# active since %s (kid %s): signs new checkpoints\n", p.Created.UTC().Format(time.RFC3339), p.ID)
		} else {
			fmt.Fprintf(stdout, "# retired %s (kid %s): still verifies the checkpoints it signed\n", p.Retired.UTC().Format(time.RFC3339), p.ID)
		}
		fmt.Fprintln(stdout, vkey)
	}
	return nil
}

// openKeyManager opens the key backend the configuration names, with the
// server's retention of each ring.
func openKeyManager(ctx context.Context, cfg *config.Config) (keys.Manager, error) {
	m, err := backend.Open(ctx, backend.Config{URL: cfg.Keys, DataDir: cfg.DataDir, Retention: cfg.KeyRetention.D(),
		RingRetention: app.LongLivedRings()})
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
