package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cedula/cedula/audit"
	auditstore "github.com/cedula/cedula/audit/sqlstore"
	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/pages"
	"github.com/cedula/cedula/issuer/sqlstore"
)

func newAdminCmd(sf *serverFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Manage citizens, enrolment links, sessions and agency clients",
		Long: `Manage citizens, enrolment links, sessions and agency clients, working on the
database directly: the same operations as the admin HTTP API, audited like
them with the command line (admin-cli) as actor.`,
	}
	sf.addTo(cmd)
	client := &cobra.Command{
		Use:   "client",
		Short: "Register agency clients, make their keys, grant or revoke privileged scopes",
	}
	client.AddCommand(newClientAddCmd(sf), newClientPrivilegeCmd(sf, "grant"), newClientPrivilegeCmd(sf, "revoke"),
		newClientKeygenCmd())
	groupRunE(client, "subcommand")
	cmd.AddCommand(newCitizenCmd(sf), newEnrolCmd(sf), newEndSessionsCmd(sf), client)
	groupRunE(cmd, "subcommand")
	return cmd
}

// onStore makes the RunE of an admin command that works on the database:
// fn gets its store, whose changes are audited like the admin API's with
// the command line as actor; their entries are sequenced into the log
// before the command ends.
func onStore(sf *serverFlags, fn func(ctx context.Context, st *sqlstore.Store, stdout io.Writer) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()
		d, _, err := app.Open(ctx, sf.cfg)
		if err != nil {
			return err
		}
		defer d.Close()
		ps, err := app.Pseudonyms(sf.cfg)
		if err != nil {
			return err
		}
		log := auditstore.New(d)
		defer log.Close()
		defer log.Flush(context.WithoutCancel(ctx))
		ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorSystem, ID: "admin-cli"})
		st := sqlstore.New(d, sqlstore.WithAudit(log, ps))
		defer st.Close()
		return fn(ctx, st, cmd.OutOrStdout())
	}
}

// citizenOptions are the flags of cedula admin citizen.
type citizenOptions struct {
	citizen issuer.Citizen
	enrol   bool
}

func newCitizenCmd(sf *serverFlags) *cobra.Command {
	var o citizenOptions
	cmd := &cobra.Command{
		Use:     "citizen",
		Short:   "Create a citizen and print an enrolment link",
		Example: "  cedula admin citizen --given-name Ana --family-name 'Pérez Díaz' --birthdate 1990-04-01 --email ana@example.org",
		Args:    noArgs,
		RunE: onStore(sf, func(ctx context.Context, st *sqlstore.Store, stdout io.Writer) error {
			return adminCitizen(ctx, st, sf.cfg, o, stdout)
		}),
	}
	fs := cmd.Flags()
	fs.StringVar(&o.citizen.GivenName, "given-name", "", "given name")
	fs.StringVar(&o.citizen.FamilyName, "family-name", "", "family name")
	fs.StringVar(&o.citizen.Birthdate, "birthdate", "", "birthdate YYYY-MM-DD")
	fs.StringVar(&o.citizen.Email, "email", "", "email address")
	fs.StringVar(&o.citizen.Locale, "locale", "es", "es or en")
	fs.BoolVar(&o.enrol, "enrol", true, "also print an enrolment link")
	return cmd
}

func adminCitizen(ctx context.Context, st *sqlstore.Store, cfg config.Config, o citizenOptions, stdout io.Writer) error {
	c, err := (&issuer.Registrar{Store: st}).CreateCitizen(ctx, o.citizen)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "citizen %s\n", c.ID)
	if o.enrol {
		return printEnrol(ctx, st, cfg, c.ID, stdout)
	}
	return nil
}

// citizenFlag adds the required --citizen to cmd.
func citizenFlag(cmd *cobra.Command, id *string) {
	cmd.Flags().StringVar(id, "citizen", "", "citizen `ID`")
	_ = cmd.MarkFlagRequired("citizen") // an error only for a flag that does not exist
}

func newEnrolCmd(sf *serverFlags) *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use:   "enrol",
		Short: "Print a new enrolment link for a citizen",
		Long:  "Print a new enrolment link for a citizen: single use, valid for enrolment_ttl.",
		Args:  noArgs,
		RunE: onStore(sf, func(ctx context.Context, st *sqlstore.Store, stdout io.Writer) error {
			return printEnrol(ctx, st, sf.cfg, id, stdout)
		}),
	}
	citizenFlag(cmd, &id)
	return cmd
}

func newEndSessionsCmd(sf *serverFlags) *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use:   "end-sessions",
		Short: "End a citizen's sessions (a lost device); agencies are told",
		Long: `End every session of a citizen — a lost or stolen device. The agencies they
logged in to are told by back-channel logout, queued in the same transaction
for a running server to deliver.`,
		Args: noArgs,
		RunE: onStore(sf, func(ctx context.Context, st *sqlstore.Store, stdout io.Writer) error {
			return endSessions(ctx, st, id, stdout)
		}),
	}
	citizenFlag(cmd, &id)
	return cmd
}

func endSessions(ctx context.Context, st *sqlstore.Store, id string, stdout io.Writer) error {
	if _, err := st.Citizen(ctx, id); err != nil {
		return fmt.Errorf("cedula admin end-sessions: %w", err)
	}
	n, err := st.DeleteSessionsOf(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d sessions ended (audited; the agencies are told by back-channel logout)\n", n)
	return nil
}

// clientAddOptions are the flags of cedula admin client add.
type clientAddOptions struct {
	client   issuer.Client
	jwksFile string
}

func newClientAddCmd(sf *serverFlags) *cobra.Command {
	var o clientAddOptions
	cmd := &cobra.Command{
		Use:   "add",
		Short: "Register an agency client",
		Long: `Register an agency client and print its client_id — and, for
client_secret_basic, a secret that is shown this once: Cedula keeps only its
SHA-256. Privileged scopes are granted apart, with cedula admin client grant.`,
		Example: `  cedula admin client keygen --private tax.jwk --public tax.jwks.json
  cedula admin client add --id tax-agency --name 'Agencia Tributaria' \
      --redirect-uri https://tax.example.gob/callback --jwks tax.jwks.json`,
		Args: noArgs,
		RunE: onStore(sf, func(ctx context.Context, st *sqlstore.Store, stdout io.Writer) error {
			return clientAdd(ctx, st, o, stdout)
		}),
	}
	fs := cmd.Flags()
	c := &o.client
	fs.StringVar(&c.ID, "id", "", "client_id")
	fs.StringVar(&c.Name, "name", "", "agency name shown to citizens")
	fs.StringVar(&c.AuthMethod, "auth", issuer.AuthPrivateKeyJWT, "token_endpoint_auth_method: private_key_jwt, client_secret_basic or none")
	fs.StringVar(&o.jwksFile, "jwks", "", "`file` with the client's public JWKS (private_key_jwt)")
	fs.StringVar(&c.SubjectType, "subject-type", issuer.SubjectPairwise, "pairwise or public")
	fs.StringVar(&c.SectorID, "sector", "", "sector identifier for pairwise subjects")
	fs.StringVar(&c.IDTokenAlg, "id-token-alg", "", "id_token_signed_response_alg: ES256 (default), RS256 or EdDSA")
	fs.StringArrayVar(&c.RedirectURIs, "redirect-uri", nil, "redirect `URI` (repeat)")
	fs.StringArrayVar(&c.GrantTypes, "grant", nil, "grant `type` (repeat; default authorization_code and refresh_token)")
	fs.StringArrayVar(&c.Scopes, "scope", nil, "extra `scope` the client may request (repeat)")
	return cmd
}

func clientAdd(ctx context.Context, st *sqlstore.Store, o clientAddOptions, stdout io.Writer) error {
	c := o.client
	if o.jwksFile != "" {
		b, err := os.ReadFile(o.jwksFile)
		if err != nil {
			return err
		}
		c.JWKS = b
	}
	secret, err := (&issuer.Registrar{Store: st}).RegisterClient(ctx, c, issuer.Registration{By: issuer.Operator, MintSecret: true})
	if err != nil {
		return err
	}
	out := map[string]any{"client_id": c.ID}
	if secret != "" {
		out["client_secret"] = secret
		out["note"] = "the secret is shown this once; Cedula keeps only its SHA-256"
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func newClientPrivilegeCmd(sf *serverFlags, verb string) *cobra.Command {
	var scopes []string
	what := map[string]string{"grant": "Grant", "revoke": "Revoke"}[verb]
	cmd := &cobra.Command{
		Use:   verb + " --scope SCOPE CLIENT_ID",
		Short: what + " privileged scopes of a client (" + strings.Join(issuer.PrivilegedScopes(), ", ") + ")",
		Long: what + ` privileged scopes of a client: the operator's way, as the admin API may
not. Each change is its own audit entry, actor admin-cli.`,
		Example: "  cedula admin client " + verb + " --scope " + issuer.ScopeDPO + " auditoria",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return fmt.Errorf("%s: unexpected argument %q", cmd.CommandPath(), args[1])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 || len(scopes) == 0 {
				return fmt.Errorf("usage: cedula admin client %s --scope %s CLIENT_ID", verb, strings.Join(issuer.PrivilegedScopes(), "|"))
			}
			return onStore(sf, func(ctx context.Context, st *sqlstore.Store, stdout io.Writer) error {
				return clientPrivilege(ctx, st, verb, args[0], scopes, stdout)
			})(cmd, args)
		},
	}
	cmd.Flags().StringArrayVar(&scopes, "scope", nil, "privileged `scope`: "+strings.Join(issuer.PrivilegedScopes(), " or ")+" (repeat)")
	return cmd
}

// clientPrivilege grants or revokes (verb) privileged scopes (issuer.
// PrivilegedScopes) of client id.
func clientPrivilege(ctx context.Context, st *sqlstore.Store, verb, id string, scopes []string, stdout io.Writer) error {
	change, done, already := st.GrantPrivilege, "granted to", "already holds"
	if verb == "revoke" {
		change, done, already = st.RevokePrivilege, "revoked from", "does not hold"
	}
	for _, scope := range scopes {
		changed, err := change(ctx, id, scope)
		if errors.Is(err, issuer.ErrNotFound) {
			return fmt.Errorf("cedula admin client %s: no client has the ID %q", verb, id)
		} else if err != nil {
			return fmt.Errorf("cedula admin client %s: %w", verb, err)
		}
		if changed {
			fmt.Fprintf(stdout, "%s %s %s (audited)\n", scope, done, id)
		} else {
			fmt.Fprintf(stdout, "%s %s %s: nothing changed\n", id, already, scope)
		}
	}
	return nil
}

// clientKeygenOptions are the flags of cedula admin client keygen.
type clientKeygenOptions struct {
	private, public, alg string
}

func newClientKeygenCmd() *cobra.Command {
	var o clientKeygenOptions
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Make a key pair for an agency client (private_key_jwt)",
		Long: `Make a key pair for an agency client that authenticates with private_key_jwt:
the private JWK stays with the agency, the public JWKS is registered with
cedula admin client add --jwks.`,
		Args: noArgs,
		RunE: runWith(&o, clientKeygen),
	}
	cmd.Flags().StringVar(&o.private, "private", "client.jwk", "`file` for the private JWK (mode 0600)")
	cmd.Flags().StringVar(&o.public, "public", "client.jwks.json", "`file` for the public JWKS to register")
	cmd.Flags().StringVar(&o.alg, "alg", "ES256", "ES256, EdDSA or RS256")
	return cmd
}

// clientKeygen makes a key pair for an agency client using private_key_jwt.
func clientKeygen(_ context.Context, o clientKeygenOptions, stdout io.Writer) error {
	k, err := jose.NewClientKey(keys.Alg(o.alg))
	if err != nil {
		return err
	}
	pj, err := k.PrivateJWK()
	if err != nil {
		return err
	}
	jwks, err := k.PublicJWKS()
	if err != nil {
		return err
	}
	if err := os.WriteFile(o.private, pj, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(o.public, jwks, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "private key: %s (keep it with the agency)\npublic key set: %s (register it with --jwks)\n", o.private, o.public)
	return nil
}

func printEnrol(ctx context.Context, st *sqlstore.Store, cfg config.Config, id string, stdout io.Writer) error {
	link, exp, err := pages.Enrol(ctx, st, id, "cli", cfg.EnrolmentTTL.D(), cfg.PublicURL)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "enrolment link (single use, until %s): %s\n", exp.UTC().Format(time.RFC3339), link)
	return nil
}
