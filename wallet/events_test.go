package wallet_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/wallet"
	"github.com/cedula/cedula/wallet/inbox"
	"github.com/cedula/cedula/wallet/sqlstore"
)

// notes records what the wallet posts.
type notes struct {
	mu  sync.Mutex
	all []inbox.Note
	to  []string
}

func (n *notes) Post(_ context.Context, citizenID string, note inbox.Note) (inbox.Message, bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.all, n.to = append(n.all, note), append(n.to, citizenID)
	return inbox.Message{Note: note}, true, nil
}

type noLog struct{}

func (noLog) AppendTx(context.Context, *sql.Tx, ...audit.Entry) error { return nil }

// TestEvents: a received credential is a message in both languages naming
// it and its issuer; what is watched of it is stored beside it, without a
// claim; it is warned of once, 30 days before it expires or a fifth of
// its life for a short-lived one, and not before.
func TestEvents(t *testing.T) {
	f := newFakeIssuer(t, "")
	d := dbtest.SQLite(t, sqlstore.Migrations)
	st := sqlstore.New(d, noLog{})
	clock := time.Now()
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	n := &notes{}
	w, err := wallet.New(wallet.Config{Store: st, Sealer: plainSealer{}, Subject: func(id string) string { return "psn-" + id },
		AllowHTTP: true, Inbox: n, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	offer, _ := json.Marshal(f.offer())
	got, err := w.AcceptOffer(ctx, "ana", wallet.Accept{Offer: "openid-credential-offer://?credential_offer=" + urlEscape(string(offer)), TxCode: "4321"}, "en")
	if err != nil {
		t.Fatal(err)
	}
	c := got.Credentials[0]
	if len(n.all) != 1 || n.to[0] != "ana" || n.all[0].Kind != inbox.CredentialReceived || n.all[0].CredentialID != c.ID ||
		n.all[0].Title["en"] != "New credential: PID" || !strings.HasPrefix(n.all[0].Body["es"], "Emisor falso ") ||
		n.all[0].Dedupe == "" {
		t.Fatalf("received: %+v to %v", n.all, n.to)
	}
	ws, err := st.Watched(ctx, "ana")
	if err != nil || len(ws) != 1 || ws[0].ID != c.ID || ws[0].Status != wallet.StatusValid || !ws[0].Expires.Equal(c.ExpiresAt) || ws[0].Warned {
		t.Fatalf("watched: %+v %v (credential expires %v)", ws, err, c.ExpiresAt)
	}
	if other, _ := st.Watched(ctx, "beto"); len(other) != 0 {
		t.Errorf("Beto's watches: %+v", other)
	}

	notice := min(c.ExpiresAt.Sub(c.IssuedAt)/5, 30*24*time.Hour)
	if !ws[0].WarnAt.Equal(c.ExpiresAt.Add(-notice)) {
		t.Errorf("warn at %v, want %v before the expiry %v", ws[0].WarnAt, notice, c.ExpiresAt)
	}
	mu.Lock()
	clock = c.ExpiresAt.Add(-notice - time.Minute)
	mu.Unlock()
	if k, err := w.WarnExpiring(ctx); err != nil || k != 0 {
		t.Fatalf("before the notice: told %d, %v", k, err)
	}
	mu.Lock()
	clock = c.ExpiresAt.Add(-notice + time.Minute)
	mu.Unlock()
	for i, want := range []int{1, 0} {
		if k, err := w.WarnExpiring(ctx); err != nil || k != want {
			t.Fatalf("warning %d: told %d, %v; want %d", i, k, err, want)
		}
	}
	last := n.all[len(n.all)-1]
	if last.Kind != inbox.CredentialExpiring || last.CredentialID != c.ID || !strings.Contains(last.Title["es"], c.ExpiresAt.UTC().Format(time.DateOnly)) {
		t.Errorf("expiring: %+v", last)
	}
	// Deleted, it is watched no more.
	if err := w.DeleteCredential(ctx, "ana", c.ID); err != nil {
		t.Fatal(err)
	}
	if ws, _ := st.Watched(ctx, "ana"); len(ws) != 0 {
		t.Errorf("watched after deletion: %+v", ws)
	}
}

// TestWatchStore: a status moves once (compare and set), a warning is
// due from its time and given once, lists are named once each, revoked
// ones no more.
func TestWatchStore(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		st := sqlstore.New(d, noLog{})
		exp := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
		for _, r := range []wallet.Record{
			{ID: "wc-1", CitizenID: "ana", Watch: &wallet.Watch{Iss: "https://i", ListURI: "https://i/l/1", Index: 3, Expires: exp,
				WarnAt: exp.Add(-24 * time.Hour), Status: wallet.StatusValid}},
			{ID: "wc-2", CitizenID: "beto", Watch: &wallet.Watch{Iss: "https://i", ListURI: "https://i/l/1", Index: 4, Expires: exp.Add(time.Hour),
				WarnAt: exp.Add(-23 * time.Hour), Status: wallet.StatusValid}},
			{ID: "wc-3", CitizenID: "ana", Watch: &wallet.Watch{Iss: "https://j", ListURI: "https://j/l", Index: 0, Status: wallet.StatusValid}},
			{ID: "wc-4", CitizenID: "ana"},
		} {
			r.Received, r.Sealed = exp, []byte{1}
			if err := st.PutCredential(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		lists, err := st.WatchedLists(ctx)
		if err != nil || len(lists) != 2 || lists[0].ListURI != "https://i/l/1" || lists[0].Iss != "https://i" {
			t.Fatalf("lists: %+v %v", lists, err)
		}
		on, err := st.WatchedOn(ctx, "https://i/l/1")
		if err != nil || len(on) != 2 || on[0].Index != 3 || on[1].CitizenID != "beto" {
			t.Fatalf("on the list: %+v %v", on, err)
		}
		if ok, err := st.SetWatchStatus(ctx, "wc-3", wallet.StatusValid, wallet.StatusRevoked); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if ok, _ := st.SetWatchStatus(ctx, "wc-3", wallet.StatusValid, wallet.StatusSuspended); ok {
			t.Error("a status moved from one it was not at")
		}
		if lists, _ := st.WatchedLists(ctx); len(lists) != 1 {
			t.Errorf("lists with a revoked one: %+v, want the first alone", lists)
		}
		due, err := st.Expiring(ctx, exp.Add(-24*time.Hour), 10)
		if err != nil || len(due) != 1 || due[0].ID != "wc-1" {
			t.Fatalf("expiring: %+v %v", due, err)
		}
		if ok, _ := st.SetWarned(ctx, "wc-1"); !ok {
			t.Fatal("not warned")
		}
		if ok, _ := st.SetWarned(ctx, "wc-1"); ok {
			t.Error("warned twice")
		}
		if due, _ := st.Expiring(ctx, exp, 10); len(due) != 1 || due[0].ID != "wc-2" || !due[0].WarnAt.Equal(exp.Add(-23*time.Hour)) {
			t.Errorf("expiring after the warning: %+v", due)
		}
		if _, err := st.DeleteCitizen(ctx, "ana"); err != nil {
			t.Fatal(err)
		}
		if ws, _ := st.Watched(ctx, "ana"); len(ws) != 0 {
			t.Errorf("Ana's watches after her erasure: %+v", ws)
		}
	}, sqlstore.Migrations)
}
