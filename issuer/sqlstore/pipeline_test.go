package sqlstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
	auditstore "github.com/cedula/cedula/audit/sqlstore"
	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/issuer"
)

// TestTokenGroupsPipelined (PostgreSQL): once the log's head is known, a
// group of access tokens and their entries is written in one round trip;
// when another writer moved the head meanwhile, that transaction fails
// whole and the group is written the usual way. Every token has its
// entry, in order, either way.
func TestTokenGroupsPipelined(t *testing.T) {
	ctx := context.Background()
	d := dbtest.Postgres(t, Migrations, auditstore.Migrations)
	log := auditstore.New(d)
	t.Cleanup(log.Close)
	s := New(d, WithAudit(log, audit.NewPseudonyms(make([]byte, 32))))
	t.Cleanup(s.Close)
	token := func(i int) {
		t.Helper()
		at := issuer.AccessToken{ID: fmt.Sprint("at-", i), ClientID: "agency", Expiration: time.Now().Add(time.Minute)}
		if err := s.CreateAccessToken(audit.WithRequestID(ctx, fmt.Sprint("req-", i)), at); err != nil {
			t.Fatal(err)
		}
	}
	token(0) // learns the head
	token(1)
	token(2)
	if got := s.pipelined.Load(); got != 2 {
		t.Errorf("after 3 tokens one at a time: %d groups pipelined, want 2", got)
	}
	if _, err := log.Append(ctx, audit.Entry{Actor: audit.Actor{Kind: audit.ActorSystem, ID: "other"}, Action: "other.write", Outcome: audit.Allowed}); err != nil {
		t.Fatal(err)
	}
	token(3) // the head moved: the usual way
	token(4)
	if got := s.pipelined.Load(); got != 3 {
		t.Errorf("after another writer: %d groups pipelined, want 3", got)
	}
	size, err := log.Size(ctx)
	if err != nil || size != 6 {
		t.Fatalf("log size %d (%v), want 6", size, err)
	}
	recs, err := log.Entries(ctx, 0, size)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range recs {
		e, err := r.Entry()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.RequestID)
	}
	if want := "[req-0 req-1 req-2  req-3 req-4]"; fmt.Sprint(ids) != want {
		t.Errorf("entries' request IDs %v, want %s", ids, want)
	}
	for i := range 5 {
		if _, err := s.AccessToken(ctx, fmt.Sprint("at-", i)); err != nil {
			t.Errorf("token %d: %v", i, err)
		}
	}
	root, err := audit.TreeHash(ctx, log, size)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		p, err := audit.ProveInclusion(ctx, log, int64(i), size)
		if err != nil || audit.CheckInclusion(p, int64(i), size, audit.LeafHash(r.Data), root) != nil {
			t.Errorf("entry %d does not prove against the root: %v", i, err)
		}
	}
}
