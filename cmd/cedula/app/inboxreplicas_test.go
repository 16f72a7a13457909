package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/issuer/demo"
	"github.com/cedula/cedula/wallet/inbox"
)

// TestInboxAcrossReplicas: two servers on one PostgreSQL database. Ana's
// app holds her inbox stream open on replica A; the agency suspends her
// credential on replica B, whose wallet sees the change and posts the
// message there — and A's stream delivers it, read from the database. A
// message B posts directly reaches it too, once.
// replicas starts n demo servers on one PostgreSQL and one data folder
// (so one secret), the demo back end registered with scopes and one key
// for all of them.
func replicas(t *testing.T, n int, scopes ...string) []*env {
	t.Helper()
	dbURL := dbtest.PostgresURL(t)
	dataDir := t.TempDir()
	key, _ := jose.NewClientKey(keys.ES256)
	var out []*env
	for i := range n {
		s, u := startServer(t, func(c *config.Config) {
			c.Demo, c.StatusListSize, c.DB, c.DataDir = true, 16, dbURL, dataDir
		})
		e := &env{t: t, s: s, url: u, key: key}
		if i == 0 {
			e.agency(demo.MachineID, scopes...)
		}
		out = append(out, e)
	}
	return out
}

func TestInboxAcrossReplicas(t *testing.T) {
	rs := replicas(t, 2, scopes.Issuance)
	a, b := rs[0], rs[1]

	ana, api := a.walletCitizen("Ana")
	events, stop := openStream(t, api, "en", "")
	defer stop()
	cred := a.acceptPID(api, ana, "replicas-1", nil)
	awaitEvent(t, events, "credential_received")

	list, _, err := b.s.Issuer.Credentials(context.Background(), demo.MachineID, "", 10)
	if err != nil || len(list) != 1 {
		t.Fatalf("the agency's issuances on B: %v %v", list, err)
	}
	if _, err := b.s.Issuer.SetStatus(context.Background(), demo.MachineID, list[0].ID, "suspended"); err != nil {
		t.Fatal(err)
	}
	ev := awaitEvent(t, events, "credential_suspended")
	if ev.Msg.CredentialId == nil || *ev.Msg.CredentialId != cred.Id {
		t.Errorf("the suspension through B: %+v", ev.Msg)
	}
	if _, ok, err := b.s.Inbox.Post(context.Background(), ana, inbox.Note{Kind: inbox.ConsentRenewal,
		Title: map[string]string{"en": "From B", "es": "Desde B"}, Dedupe: "replicas-test"}); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if ev := awaitEvent(t, events, "consent_renewal"); !strings.Contains(ev.Msg.Title, "From B") {
		t.Errorf("B's message on A: %+v", ev.Msg)
	}
	if a.s.Inbox.Streams() != 1 || b.s.Inbox.Streams() != 0 {
		t.Errorf("streams: %d on A, %d on B; want 1 and 0", a.s.Inbox.Streams(), b.s.Inbox.Streams())
	}
}
