package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/cmd/cedula/app/apptest"
	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/oidcop"
)

// TestErasureKeepsTheLogVerifiable: entries about two citizens carry
// sealed details; erasing one (POST /admin/erasures) makes their details
// unreadable while the other's still open, and `cedula audit verify` passes
// against a checkpoint saved before the erasure.
func TestErasureKeepsTheLogVerifiable(t *testing.T) {
	s, base, post := recorderServer(t, app.AuditWriteScope, app.AdminScope)
	// Two citizens who logged in to the recorder: it knows them by their
	// pairwise subs, the log by their audit pseudonyms.
	ctx := context.Background()
	rc, err := s.Store.Client(ctx, "recorder")
	if err != nil {
		t.Fatal(err)
	}
	subOf := map[string]string{}
	for _, name := range []string{"ana", "john"} {
		c := issuer.Citizen{ID: issuer.NewCitizenID(), GivenName: name, FamilyName: "Test", Birthdate: "1980-01-02", Created: time.Now()}
		if err := s.Store.CreateCitizen(ctx, c); err != nil {
			t.Fatal(err)
		}
		sub, err := s.Provider.Subject(ctx, "recorder", c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Store.PutSubject(ctx, oidcop.SubjectSector(rc), sub, c.ID); err != nil {
			t.Fatal(err)
		}
		subOf[name], subOf[name+"-id"] = sub, c.ID
	}
	anaPsn, johnPsn := s.AuditSubject(subOf["ana-id"]), s.AuditSubject(subOf["john-id"])
	// The log holds the provider's own entries already (clients, citizens,
	// tokens); the agency's four start here.
	if err := s.Audit.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	start, err := s.Audit.Size(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i, who := range []string{"ana", "john", "ana", "john"} {
		body := fmt.Sprintf(`{"action":"tax.read","sub":%q,"outcome":"allowed","details":{"field":"income","n":%d}}`, subOf[who], i)
		if status, b := post("POST", "/admin/audit", body); status != 201 {
			t.Fatalf("append: %d %s", status, b)
		}
	}
	if _, err := s.Checkpointer.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	saved := t.TempDir() + "/checkpoint"
	pinned := pinnedKeyFile(t, s.Config, "")
	var out strings.Builder
	if err := runAudit(context.Background(), []string{"verify", "--url", base + "/audit", "--key-file", pinned, "--save", saved}, &out); err != nil {
		t.Fatalf("verify before erasure: %v\n%s", err, out.String())
	}

	if status, b := post("POST", "/admin/erasures", `{"citizen_id":"`+subOf["ana-id"]+`"}`); status != 201 {
		t.Fatalf("erase: %d %s", status, b)
	}
	recs, err := s.Audit.Entries(context.Background(), start, start+4)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		e, _ := r.Entry()
		_, err := s.Shredder.Open(context.Background(), e.Subject, e.Details)
		switch {
		case e.Subject != anaPsn && e.Subject != johnPsn:
			t.Errorf("entry %d is about %q, not a citizen's audit pseudonym", r.Index, e.Subject)
		case e.Subject == anaPsn && !errors.Is(err, audit.ErrErased):
			t.Errorf("entry %d about the erased subject: got %v, want ErrErased", r.Index, err)
		case e.Subject == johnPsn && err != nil:
			t.Errorf("entry %d about another subject: %v", r.Index, err)
		}
		if strings.Contains(string(r.Data), "income") {
			t.Errorf("entry %d holds details in clear", r.Index)
		}
	}
	if status, _ := post("POST", "/admin/audit", `{"action":"tax.read","sub":"`+subOf["ana"]+`","outcome":"allowed","details":{"x":1}}`); status != 409 {
		t.Errorf("new details for an erased subject: status %d, want 409", status)
	}
	if _, err := s.Checkpointer.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := runAudit(context.Background(), []string{"verify", "--url", base + "/audit", "--key-file", pinned, "--checkpoint", saved}, &out); err != nil {
		t.Errorf("verify after erasure: %v\n%s", err, out.String())
	}
}

// recorderServer runs a whole server in process on SQLite, with a client
// "recorder" holding a client_credentials token of scopes, and returns a
// function that sends it JSON with that token.
func recorderServer(t *testing.T, scopes ...string) (*app.Server, string, func(method, path, body string) (int, string)) {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	t.Setenv("CEDULA_KEK", strings.Repeat("5e", 32))
	s, base := apptest.Start(t, cfg)

	key, _ := jose.NewClientKey(keys.ES256)
	jwks, _ := key.PublicJWKS()
	if err := s.Store.PutClient(context.Background(), issuer.Client{ID: "recorder", Name: "recorder", GrantTypes: []string{issuer.GrantClientCredentials},
		AuthMethod: issuer.AuthPrivateKeyJWT, JWKS: jwks, SubjectType: issuer.SubjectPairwise, Scopes: scopes}); err != nil {
		t.Fatal(err)
	}
	token := clientTokenScope(t, base, key, strings.Join(scopes, " "))
	send := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	return s, base, send
}
