package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/cmd/cedula/app/apptest"
	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/sqlstore"
)

// TestBenchSeed: `cedula bench seed` loads a small database on each
// dialect; the log it leaves passes `cedula audit verify`, proves inclusion
// through the leaf-hash index, and its subject and search indexes find
// exactly what a scan of the entries finds; seeded citizens carry the
// pairwise subjects and audit pseudonyms the server computes; and a
// server started on it issues tokens, whose entries extend the log
// consistently.
func TestBenchSeed(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			cfg := config.Default()
			cfg.DataDir = t.TempDir()
			if dialect == "postgres" {
				cfg.DB = dbtest.PostgresURL(t)
			}
			t.Setenv("CEDULA_KEK", strings.Repeat("5e", 32))
			// A code-flow client registered before the seed: every
			// seeded citizen gets a subject in its sector.
			d, _, err := app.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			web := issuer.Client{ID: "agency-web", Name: "Agencia", RedirectURIs: []string{"https://web.example/cb"},
				GrantTypes: []string{issuer.GrantAuthorizationCode}, AuthMethod: issuer.AuthNone, SubjectType: issuer.SubjectPairwise}
			if err := sqlstore.New(d).PutClient(ctx, web); err != nil {
				t.Fatal(err)
			}
			d.Close()

			const entries, citizens = 5000, 200
			var out strings.Builder
			args := []string{"seed", "--quiet", "--data-dir", cfg.DataDir, "--entries", fmt.Sprint(entries), "--citizens", fmt.Sprint(citizens)}
			if cfg.DB != "" {
				args = append(args, "--db", cfg.DB)
			}
			if err := runBench(ctx, args, &out); err != nil {
				t.Fatalf("bench seed: %v\n%s", err, out.String())
			}
			if want := "seeded " + dialect + " in "; !strings.Contains(out.String(), want) {
				t.Errorf("output:\n%s\nwant it to contain %q", out.String(), want)
			}

			s, base := apptest.Start(t, cfg)
			size, err := s.Audit.Size(ctx)
			if err != nil || size < entries {
				t.Fatalf("log size %d (%v), want at least %d", size, err, entries)
			}
			checkSeededLog(t, s, size)
			checkSeededCitizens(t, s, web.ID, citizens)

			// The log verifies, and after tokens issued by the server on
			// it, verifies again and extends the first checkpoint.
			key, _ := jose.NewClientKey(keys.ES256)
			jwks, _ := key.PublicJWKS()
			if err := s.Store.PutClient(ctx, issuer.Client{ID: "recorder", Name: "recorder", GrantTypes: []string{issuer.GrantClientCredentials},
				AuthMethod: issuer.AuthPrivateKeyJWT, JWKS: jwks, SubjectType: issuer.SubjectPairwise}); err != nil {
				t.Fatal(err)
			}
			first := verifySeeded(t, s, base, key, "")
			verifySeeded(t, s, base, key, first)
			if n, _ := s.Audit.Size(ctx); n <= size {
				t.Errorf("log size %d after issuing tokens, want more than %d", n, size)
			}
		})
	}
}

// checkSeededLog checks the seeded log's indexes against a scan of its
// entries.
func checkSeededLog(t *testing.T, s *app.Server, size int64) {
	t.Helper()
	ctx := context.Background()
	bySubject := map[string]int{}
	byAction := map[string]int{}
	var leaves []audit.Hash
	for start := int64(0); start < size; start += audit.MaxEntries {
		recs, err := s.Audit.Entries(ctx, start, min(size, start+audit.MaxEntries))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			e, err := audit.ParseEntry(r.Data)
			if err != nil {
				t.Fatalf("entry %d: %v", r.Index, err)
			}
			if e.Subject != "" {
				bySubject[e.Subject]++
			}
			byAction[e.Action]++
			leaves = append(leaves, audit.LeafHash(r.Data))
		}
	}
	root, err := audit.TreeHash(ctx, s.Audit, size)
	if err != nil {
		t.Fatal(err)
	}
	for _, idx := range []int64{0, 1, 799, 800, 2047, 4096, size - 1} {
		got, proof, err := audit.ProveInclusionByHash(ctx, s.Audit, leaves[idx], size)
		if err != nil || got != idx {
			t.Fatalf("inclusion proof of entry %d by its leaf hash: index %d, %v", idx, got, err)
		}
		if err := audit.CheckInclusion(proof, idx, size, leaves[idx], root); err != nil {
			t.Errorf("inclusion proof of entry %d: %v", idx, err)
		}
	}
	checked := 0
	for subject, want := range bySubject {
		if checked++; checked > 20 {
			break
		}
		recs, _, err := s.Audit.EntriesAbout(ctx, subject, 0, audit.MaxEntries)
		if err != nil || len(recs) != want {
			t.Errorf("EntriesAbout a seeded subject: %d entries (%v), want %d", len(recs), err, want)
		}
	}
	for _, action := range []string{issuer.ActionCitizenCreate, issuer.ActionToken, "consent.decide"} {
		got := 0
		for after := int64(0); ; {
			recs, next, err := s.Audit.Search(ctx, audit.Query{Action: action, After: after, Limit: audit.MaxSearch})
			if err != nil {
				t.Fatal(err)
			}
			got += len(recs)
			if next == 0 {
				break
			}
			after = next
		}
		if got != byAction[action] || got == 0 {
			t.Errorf("search for %s: %d entries, want %d (and some)", action, got, byAction[action])
		}
	}
}

// checkSeededCitizens checks the citizens' rows and that their subject and
// pseudonym are the server's.
func checkSeededCitizens(t *testing.T, s *app.Server, clientID string, citizens int) {
	t.Helper()
	ctx := context.Background()
	for _, c := range []struct {
		table string
		want  int
	}{{"issuer_citizens", citizens}, {"issuer_passkeys", citizens}, {"issuer_subjects", 3 * citizens}} {
		var n int
		if err := s.DB.QueryRowContext(ctx, `SELECT count(*) FROM `+c.table).Scan(&n); err != nil || n != c.want {
			t.Errorf("%s: %d rows (%v), want %d", c.table, n, err, c.want)
		}
	}
	var sub, citizenID string
	err := s.DB.QueryRowContext(ctx, `SELECT sub, citizen_id FROM issuer_subjects WHERE sector = 'sector:web.example' ORDER BY sub LIMIT 1`).Scan(&sub, &citizenID)
	if err != nil {
		t.Fatal(err)
	}
	if want, err := s.Provider.Subject(ctx, clientID, citizenID); err != nil || sub != want {
		t.Errorf("seeded pairwise subject %q, the server computes %q (%v)", sub, want, err)
	}
	if _, err := s.Store.Citizen(ctx, citizenID); err != nil {
		t.Errorf("seeded citizen: %v", err)
	}
	pks, err := s.Store.PasskeysOf(ctx, citizenID)
	if err != nil || len(pks) != 1 {
		t.Errorf("seeded citizen's passkeys: %d (%v), want 1", len(pks), err)
	}
	secret, err := app.Secret(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	recs, _, err := s.Audit.EntriesAbout(ctx, audit.NewPseudonyms(secret).Of(citizenID), 0, audit.MaxEntries)
	if err != nil || len(recs) < 4 {
		t.Errorf("entries about a seeded citizen under the server's pseudonym: %d (%v), want at least their 4 of enrolment", len(recs), err)
	}
}

// verifySeeded issues two tokens to the client "recorder" with key, signs
// a checkpoint and runs `cedula audit verify` against the server, checking
// consistency with the checkpoint saved before (if any); it returns the
// file it saved the checkpoint in.
func verifySeeded(t *testing.T, s *app.Server, base string, key *jose.ClientKey, saved string) string {
	t.Helper()
	ctx := context.Background()
	clientTokenScope(t, base, key, "")
	clientTokenScope(t, base, key, "")
	if _, err := s.Checkpointer.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(base + "/audit/key")
	if err != nil {
		t.Fatal(err)
	}
	vkey, _ := io.ReadAll(res.Body)
	res.Body.Close()
	file := filepath.Join(t.TempDir(), "checkpoint")
	args := []string{"verify", "--url", base + "/audit", "--key", strings.TrimSpace(string(vkey)), "--save", file}
	if saved != "" {
		args = append(args, "--checkpoint", saved)
	}
	var out strings.Builder
	if err := runAudit(ctx, args, &out); err != nil || !strings.HasPrefix(out.String(), "ok: ") {
		t.Fatalf("audit verify: %v\n%s", err, out.String())
	}
	return file
}
