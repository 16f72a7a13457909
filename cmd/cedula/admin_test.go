package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	auditstore "github.com/cedula/cedula/audit/sqlstore"
	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/sqlstore"
)

// cedulaRun runs `cedula args…` as the command line does.
func cedulaRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errs bytes.Buffer
	err := run(t.Context(), args, &out, &errs)
	return out.String(), err
}

// TestAdminClientPrivileges: the operator grants and removes privileged
// scopes on the command line; each change is its own audit entry, actor
// admin-cli, naming the client and the scope; a scope that is not
// privileged, or an unknown client, is refused.
func TestAdminClientPrivileges(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CEDULA_KEK", strings.Repeat("4b", 32))
	common := []string{"--data-dir", dir}
	pub := filepath.Join(dir, "agency.jwks.json")
	if out, err := cedulaRun(t, append([]string{"admin", "client", "keygen", "--private", filepath.Join(dir, "agency.jwk"), "--public", pub}, common...)...); err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	if out, err := cedulaRun(t, append([]string{"admin", "client", "add", "--id", "auditoria", "--name", "Auditoría", "--grant", "client_credentials",
		"--jwks", pub, "--scope", "profile"}, common...)...); err != nil {
		t.Fatalf("add: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		args    []string
		want    string
		wantErr string
	}{
		{args: []string{"grant", "--scope", issuer.ScopeDPO, "auditoria"}, want: "cedula:dpo granted to auditoria (audited)"},
		{args: []string{"grant", "auditoria", "--scope", issuer.ScopeDPO}, want: "auditoria already holds cedula:dpo: nothing changed"},
		{args: []string{"grant", "--scope", issuer.ScopeAdmin, "--scope", issuer.ScopeDPO, "auditoria"}, want: "cedula:admin granted to auditoria (audited)"},
		{args: []string{"revoke", "--scope", issuer.ScopeDPO, "auditoria"}, want: "cedula:dpo revoked from auditoria (audited)"},
		{args: []string{"grant", "--scope", "profile", "auditoria"}, wantErr: "not a privileged scope"},
		{args: []string{"grant", "--scope", issuer.ScopeDPO, "nadie"}, wantErr: `no client has the ID "nadie"`},
		{args: []string{"grant", "auditoria"}, wantErr: "usage"},
		{args: []string{"revoke", "--scope", issuer.ScopeDPO, "auditoria", "otra"}, wantErr: "unexpected argument"},
	} {
		out, err := cedulaRun(t, append(append([]string{"admin", "client"}, tc.args...), common...)...)
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%q: got %v, want an error with %q", tc.args, err, tc.wantErr)
		case tc.wantErr == "" && (err != nil || !strings.Contains(out, tc.want)):
			t.Errorf("%q: got %q, %v; want %q", tc.args, out, err, tc.want)
		}
	}

	cfg := config.Default()
	cfg.DataDir = dir
	d, _, err := app.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := sqlstore.New(d).Client(context.Background(), "auditoria")
	if err != nil || !slices.Equal(c.Scopes, []string{"profile", issuer.ScopeAdmin}) {
		t.Errorf("stored scopes: got %q, %v; want profile and cedula:admin", c.Scopes, err)
	}
	log := auditstore.New(d)
	defer log.Close()
	n, err := log.Size(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	recs, err := log.Entries(context.Background(), 0, n)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rec := range recs {
		e, err := rec.Entry()
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(e.Action, "client.privilege.") {
			got = append(got, fmt.Sprintf("%s %s:%s %q", e.Action, e.Actor.Kind, e.Actor.ID, e.Categories))
		}
	}
	cats := func(scope string) string { return fmt.Sprintf("%q", []string{scope, "client:auditoria"}) } // sorted, as entries keep them
	want := []string{
		"client.privilege.grant system:admin-cli " + cats(issuer.ScopeDPO),
		"client.privilege.grant system:admin-cli " + cats(issuer.ScopeAdmin),
		"client.privilege.revoke system:admin-cli " + cats(issuer.ScopeDPO),
	}
	if !slices.Equal(got, want) {
		t.Errorf("audit entries:\ngot  %q\nwant %q", got, want)
	}
}

// TestAdminEndSessions: the operator ends a citizen's sessions (a lost
// device); the agency the session logged in to gets a back-channel logout
// queued for a running server to deliver, and the change is audited.
func TestAdminEndSessions(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CEDULA_KEK", strings.Repeat("4c", 32))
	cfg := config.Default()
	cfg.DataDir = dir
	ctx := context.Background()
	d, _, err := app.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	st := sqlstore.New(d)
	defer st.Close()
	ana := issuer.Citizen{ID: issuer.NewCitizenID(), GivenName: "Ana", FamilyName: "Pérez", Created: time.Now()}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.CreateCitizen(ctx, ana))
	must(st.PutClient(ctx, issuer.Client{ID: "tax", Name: "Impuestos", RedirectURIs: []string{"https://tax.example/cb"},
		GrantTypes: []string{issuer.GrantAuthorizationCode}, AuthMethod: issuer.AuthNone, SubjectType: issuer.SubjectPairwise}))
	must(st.CreateSession(ctx, issuer.Session{IDHash: []byte("cookie-hash"), SID: "sid-1", CitizenID: ana.ID, AuthTime: time.Now(), Expires: time.Now().Add(time.Hour)}))
	must(st.CreateAuthRequest(ctx, issuer.AuthRequest{ID: "ar-1", ClientID: "tax", Created: time.Now()}))
	must(st.CompleteAuthRequest(ctx, "ar-1", issuer.Completion{CitizenID: ana.ID, Subject: "sub", SessionID: "sid-1", AuthTime: time.Now()}))

	if _, err := cedulaRun(t, "admin", "end-sessions", "--data-dir", dir, "--citizen", "nobody"); err == nil {
		t.Error("end-sessions of an unknown citizen: got no error")
	}
	out, err := cedulaRun(t, "admin", "end-sessions", "--data-dir", dir, "--citizen", ana.ID)
	if err != nil || !strings.Contains(out, "1 sessions ended") {
		t.Fatalf("end-sessions: got %q, %v; want 1 session ended", out, err)
	}
	if _, err := st.Session(ctx, []byte("cookie-hash"), time.Now()); err == nil {
		t.Error("the session survived end-sessions")
	}
	ls, err := st.ClaimLogouts(ctx, time.Now(), time.Minute, 10)
	if err != nil || len(ls) != 1 || ls[0].ClientID != "tax" || ls[0].SID != "sid-1" {
		t.Errorf("queued logouts: got %+v, %v; want one for tax in sid-1", ls, err)
	}
}
