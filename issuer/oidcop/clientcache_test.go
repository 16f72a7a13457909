package oidcop

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/internal/testutil"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/sqlstore"
)

// countingStore counts the registrations read from the store; gate, when
// set, holds each read until it is closed.
type countingStore struct {
	issuer.Store
	reads atomic.Int64
	gate  chan struct{}
}

func (s *countingStore) Client(ctx context.Context, id string) (issuer.Client, error) {
	s.reads.Add(1)
	if s.gate != nil {
		<-s.gate
	}
	return s.Store.Client(ctx, id)
}

// fakeClock is a clock the test moves.
// replica is one replica's view of the clients: its own store over the
// shared database and its own cache.
type replica struct {
	store *countingStore
	st    *storage
	clock *testutil.Clock
}

func newReplica(d *db.DB, clock *testutil.Clock) *replica {
	cs := &countingStore{Store: sqlstore.New(d)}
	st := &storage{store: cs}
	st.clients.now = clock.Now
	return &replica{store: cs, st: st, clock: clock}
}

// settle waits for a load of id under way in the background, if any.
func (r *replica) settle(id string) {
	r.st.clients.mu.Lock()
	var l *clientLoad
	if e := r.st.clients.m[id]; e != nil {
		l = e.load
	}
	r.st.clients.mu.Unlock()
	if l != nil {
		<-l.done
	}
}

const cachedSecret = "first-secret-of-256-bits-0123456789abcdef0123456"

func secretClient(id, secret, name string) issuer.Client {
	return issuer.Client{ID: id, Name: name, GrantTypes: []string{issuer.GrantClientCredentials},
		AuthMethod: issuer.AuthClientSecretBasic, SecretHash: issuer.HashSecret(secret), SubjectType: issuer.SubjectPairwise}
}

// TestClientCacheServesEveryAuthenticationPath: the client's registration is
// read from the store once, however many requests authenticate with it
// and by whichever path zitadel or the server takes.
func TestClientCacheServesEveryAuthenticationPath(t *testing.T) {
	ctx := context.Background()
	d := dbtest.SQLite(t, sqlstore.Migrations)
	clock := testutil.NewClock(time.Unix(1_700_000_000, 0))
	r := newReplica(d, clock)
	if err := r.store.PutClient(ctx, secretClient("agency", cachedSecret, "Agencia")); err != nil {
		t.Fatal(err)
	}
	paths := []struct {
		name string
		call func() error
	}{
		{"GetClientByClientID", func() error { _, err := r.st.GetClientByClientID(ctx, "agency"); return err }},
		{"AuthorizeClientIDSecret", func() error { return r.st.AuthorizeClientIDSecret(ctx, "agency", cachedSecret) }},
		{"ClientCredentials", func() error { _, err := r.st.ClientCredentials(ctx, "agency", cachedSecret); return err }},
		{"ClientCredentialsTokenRequest", func() error {
			_, err := r.st.ClientCredentialsTokenRequest(ctx, "agency", nil)
			return err
		}},
		{"clientBySecret", func() error { _, err := r.st.clientBySecret(ctx, "agency", cachedSecret); return err }},
	}
	for range 100 {
		for _, p := range paths {
			if err := p.call(); err != nil {
				t.Fatalf("%s: %v", p.name, err)
			}
		}
	}
	if got := r.store.reads.Load(); got != 1 {
		t.Errorf("got %d reads of the registration for %d authentications, want 1", got, 100*len(paths))
	}
	// Wrong secrets re-read the registration at most once per
	// clientRecheckAge.
	for range 100 {
		if err := r.st.AuthorizeClientIDSecret(ctx, "agency", "wrong"); err == nil {
			t.Fatal("a wrong secret was accepted")
		}
	}
	if got := r.store.reads.Load(); got != 1 {
		t.Errorf("wrong secrets on a fresh registration: got %d reads, want still 1", got)
	}
	clock.Add(clientRecheckAge)
	for range 100 {
		_ = r.st.AuthorizeClientIDSecret(ctx, "agency", "wrong")
	}
	if got := r.store.reads.Load(); got != 2 {
		t.Errorf("wrong secrets on a registration %v old: got %d reads, want 2", clientRecheckAge, got)
	}
}

// TestClientCacheOneLoadForConcurrentMisses: requests that find the
// registration missing at the same time share one read.
func TestClientCacheOneLoadForConcurrentMisses(t *testing.T) {
	ctx := context.Background()
	d := dbtest.SQLite(t, sqlstore.Migrations)
	r := newReplica(d, testutil.NewClock(time.Unix(1_700_000_000, 0)))
	if err := r.store.PutClient(ctx, secretClient("agency", cachedSecret, "Agencia")); err != nil {
		t.Fatal(err)
	}
	r.store.gate = make(chan struct{})
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 64 {
		wg.Go(func() {
			if _, err := r.st.clientBySecret(ctx, "agency", cachedSecret); err != nil {
				failed.Add(1)
			}
		})
	}
	close(r.store.gate)
	wg.Wait()
	if got := r.store.reads.Load(); got != 1 {
		t.Errorf("64 concurrent requests on a cold cache: got %d reads, want 1", got)
	}
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of 64 requests failed", n)
	}
}

// TestClientCacheAcrossReplicas: two replicas share one database; a change
// made through one — a new name, a rotated secret, a deletion — is seen by
// the other within clientCacheTTL, and an old secret stops working there by
// then; a change made through the replica itself applies at once.
func TestClientCacheAcrossReplicas(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		clock := testutil.NewClock(time.Unix(1_700_000_000, 0))
		a, b := newReplica(d, clock), newReplica(d, clock)
		if err := b.store.PutClient(ctx, secretClient("agency", cachedSecret, "Old name")); err != nil {
			t.Fatal(err)
		}
		name := func() string {
			t.Helper()
			c, err := a.st.GetClientByClientID(ctx, "agency")
			if err != nil {
				return "error: " + err.Error()
			}
			return c.(client).c.Name
		}
		secretWorks := func(secret string) bool {
			return a.st.AuthorizeClientIDSecret(ctx, "agency", secret) == nil
		}
		if got := name(); got != "Old name" {
			t.Fatalf("got %q, want Old name", got)
		}

		// A new name through b: a serves its copy until the copy is
		// clientCacheTTL old, reloading it in the background from
		// clientRefreshAge on.
		const newSecret = "second-secret-of-256-bits-0123456789abcdef01234"
		if err := b.store.PutClient(ctx, secretClient("agency", cachedSecret, "New name")); err != nil {
			t.Fatal(err)
		}
		clock.Add(clientRefreshAge - time.Millisecond)
		if got := name(); got != "Old name" {
			t.Errorf("before clientRefreshAge: got %q, want the cached Old name", got)
		}
		clock.Add(time.Millisecond)
		if got := name(); got != "Old name" {
			t.Errorf("at clientRefreshAge: got %q, want the cached Old name while it reloads", got)
		}
		a.settle("agency")
		if got := name(); got != "New name" {
			t.Errorf("after the background reload: got %q, want New name", got)
		}

		// A rotated secret: the new one works on a at once once a's copy
		// is clientRecheckAge old (the mismatch rereads), and the old one
		// stops working with it.
		if err := b.store.PutClient(ctx, secretClient("agency", newSecret, "New name")); err != nil {
			t.Fatal(err)
		}
		if !secretWorks(cachedSecret) {
			t.Errorf("old secret refused from a copy younger than the bound; want it served from the cache")
		}
		clock.Add(clientRecheckAge)
		if !secretWorks(newSecret) {
			t.Errorf("new secret refused on a copy %v old; want it rechecked and accepted", clientRecheckAge)
		}
		if secretWorks(cachedSecret) {
			t.Errorf("old secret still accepted after the recheck found the new one")
		}

		// The bound, without any mismatch to trigger a recheck: b rotates
		// back; a's copy (read at the recheck) serves the secret it holds
		// while younger than clientRefreshAge, and never once it is
		// clientCacheTTL old.
		if err := b.store.PutClient(ctx, secretClient("agency", cachedSecret, "New name")); err != nil {
			t.Fatal(err)
		}
		clock.Add(clientRefreshAge - time.Millisecond)
		if !secretWorks(newSecret) {
			t.Errorf("a copy younger than clientRefreshAge: its secret refused, want it served from the cache")
		}
		clock.Add(clientCacheTTL - clientRefreshAge + time.Millisecond)
		if secretWorks(newSecret) {
			t.Errorf("a secret rotated away %v ago still works; want it refused", clientCacheTTL)
		}

		// A deletion through b: seen on a within the bound.
		if err := b.store.DeleteClient(ctx, "agency"); err != nil {
			t.Fatal(err)
		}
		clock.Add(clientCacheTTL)
		if _, err := a.st.GetClientByClientID(ctx, "agency"); !isInvalidClient(err) {
			t.Errorf("deleted client %v later: got %v, want invalid_client", clientCacheTTL, err)
		}
		if secretWorks(cachedSecret) {
			t.Errorf("a deleted client's secret still works")
		}

		// A change through a itself (its admin API forgets the copy).
		if err := a.store.PutClient(ctx, secretClient("agency", cachedSecret, "Again")); err != nil {
			t.Fatal(err)
		}
		if got := name(); got != "Again" {
			t.Fatalf("got %q, want Again", got)
		}
		if err := a.store.PutClient(ctx, secretClient("agency", cachedSecret, "Renamed here")); err != nil {
			t.Fatal(err)
		}
		(&Provider{st: a.st}).ForgetClient("agency")
		if got := name(); got != "Renamed here" {
			t.Errorf("after ForgetClient: got %q, want Renamed here at once", got)
		}
	}, sqlstore.Migrations)
}

func isInvalidClient(err error) bool {
	var e *oidc.Error
	return errors.As(err, &e) && e.ErrorType == oidc.InvalidClient
}
