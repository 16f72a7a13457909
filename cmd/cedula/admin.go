package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

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

// runAdmin implements `cedula admin citizen|enrol|client`, working on the
// database directly (the same operations as the admin HTTP API).
func runAdmin(ctx context.Context, cfg config.Config, _ *slog.Logger, args []string, stdout io.Writer) error {
	d, _, err := app.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	ps, err := app.Pseudonyms(cfg)
	if err != nil {
		return err
	}
	// The changes are audited like the admin API's, with the command line
	// as actor; entries are sequenced into the log before the command ends.
	log := auditstore.New(d)
	defer log.Close()
	defer log.Flush(context.WithoutCancel(ctx))
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorSystem, ID: "admin-cli"})
	st := sqlstore.New(d, sqlstore.WithAudit(log, ps))
	defer st.Close()
	reg := &issuer.Registrar{Store: st}
	verb, rest := args[0], args[1:]
	fs := flag.NewFlagSet("cedula admin "+verb, flag.ContinueOnError)
	switch verb {
	case "citizen":
		given := fs.String("given-name", "", "given name")
		family := fs.String("family-name", "", "family name")
		birth := fs.String("birthdate", "", "birthdate YYYY-MM-DD")
		email := fs.String("email", "", "email address")
		locale := fs.String("locale", "es", "es or en")
		enrol := fs.Bool("enrol", true, "also print an enrolment link")
		if err := fs.Parse(rest); err != nil {
			return err
		}
		c, err := reg.CreateCitizen(ctx, issuer.Citizen{GivenName: *given, FamilyName: *family, Birthdate: *birth,
			Email: *email, Locale: *locale})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "citizen %s\n", c.ID)
		if *enrol {
			return printEnrol(ctx, st, cfg, c.ID, stdout)
		}
		return nil
	case "enrol":
		id := fs.String("citizen", "", "citizen ID")
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if *id == "" {
			return errors.New("--citizen is required")
		}
		return printEnrol(ctx, st, cfg, *id, stdout)
	case "end-sessions":
		// A lost or stolen device: every session of the citizen ends, and
		// the agencies they logged in to are told by back-channel logout
		// (queued in the same transaction; a running server delivers it).
		id := fs.String("citizen", "", "citizen ID")
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if *id == "" {
			return errors.New("--citizen is required")
		}
		if _, err := st.Citizen(ctx, *id); err != nil {
			return fmt.Errorf("cedula admin end-sessions: %w", err)
		}
		n, err := st.DeleteSessionsOf(ctx, *id)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d sessions ended (audited; the agencies are told by back-channel logout)\n", n)
		return nil
	case "client":
		if len(rest) > 0 && rest[0] == "keygen" {
			return clientKeygen(fs, rest[1:], stdout)
		}
		if len(rest) > 0 && (rest[0] == "grant" || rest[0] == "revoke") {
			return clientPrivilege(ctx, st, fs, rest[0], rest[1:], stdout)
		}
		if len(rest) == 0 || rest[0] != "add" {
			return errors.New("usage: cedula admin client add --id ID --name NAME [--redirect-uri URI]… [--auth private_key_jwt|client_secret_basic|none] [--jwks FILE] [--grant …]… [--scope …]…\n" +
				"       cedula admin client grant|revoke --scope " + strings.Join(issuer.PrivilegedScopes(), "|") + " CLIENT_ID")
		}
		var redirects, grants, scopes multi
		id := fs.String("id", "", "client_id")
		name := fs.String("name", "", "agency name shown to citizens")
		auth := fs.String("auth", issuer.AuthPrivateKeyJWT, "token_endpoint_auth_method")
		jwksFile := fs.String("jwks", "", "file with the client's public JWKS (private_key_jwt)")
		subject := fs.String("subject-type", issuer.SubjectPairwise, "pairwise or public")
		sector := fs.String("sector", "", "sector identifier for pairwise subjects")
		alg := fs.String("id-token-alg", "", "id_token_signed_response_alg: ES256 (default), RS256 or EdDSA")
		fs.Var(&redirects, "redirect-uri", "redirect URI (repeat)")
		fs.Var(&grants, "grant", "grant type (repeat; default authorization_code and refresh_token)")
		fs.Var(&scopes, "scope", "extra scope the client may request (repeat)")
		if err := fs.Parse(rest[1:]); err != nil {
			return err
		}
		c := issuer.Client{ID: *id, Name: *name, RedirectURIs: redirects, GrantTypes: grants, AuthMethod: *auth,
			SubjectType: *subject, SectorID: *sector, IDTokenAlg: *alg, Scopes: scopes}
		if *jwksFile != "" {
			b, err := os.ReadFile(*jwksFile)
			if err != nil {
				return err
			}
			c.JWKS = b
		}
		secret, err := reg.RegisterClient(ctx, c, issuer.Registration{By: issuer.Operator, MintSecret: true})
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
	return fmt.Errorf("unknown admin command %q (citizen, enrol, client add|grant|revoke|keygen)", verb)
}

// clientPrivilege grants or revokes privileged scopes (issuer.
// PrivilegedScopes) of a client: the operator's way, as the admin API may
// not; each change is its own audit entry with actor admin-cli.
func clientPrivilege(ctx context.Context, st *sqlstore.Store, fs *flag.FlagSet, verb string, args []string, stdout io.Writer) error {
	var scopes multi
	fs.Var(&scopes, "scope", "privileged scope: "+strings.Join(issuer.PrivilegedScopes(), " or ")+" (repeat)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	id := fs.Arg(0)
	if fs.NArg() > 1 { // flags after the client ID
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("cedula admin client %s: unexpected argument %q", verb, fs.Arg(0))
		}
	}
	if id == "" || len(scopes) == 0 {
		return fmt.Errorf("usage: cedula admin client %s --scope %s CLIENT_ID", verb, strings.Join(issuer.PrivilegedScopes(), "|"))
	}
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

// clientKeygen makes a key pair for an agency client using private_key_jwt:
// the private JWK stays with the agency, the public JWKS is registered.
func clientKeygen(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	priv := fs.String("private", "client.jwk", "file for the private JWK (mode 0600)")
	pub := fs.String("public", "client.jwks.json", "file for the public JWKS to register")
	alg := fs.String("alg", "ES256", "ES256, EdDSA or RS256")
	if err := fs.Parse(args); err != nil {
		return err
	}
	k, err := jose.NewClientKey(keys.Alg(*alg))
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
	if err := os.WriteFile(*priv, pj, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(*pub, jwks, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "private key: %s (keep it with the agency)\npublic key set: %s (register it with --jwks)\n", *priv, *pub)
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

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }
