package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/verifier"
)

// entries records what the store appends, as the audit log would.
type entries struct {
	mu  sync.Mutex
	got []audit.Entry
}

func (e *entries) AppendTx(_ context.Context, _ *sql.Tx, es ...audit.Entry) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, es...)
	return nil
}

func TestStore(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testStore(t, dbtest.SQLite(t, Migrations)) })
	t.Run("postgres", func(t *testing.T) { testStore(t, dbtest.Postgres(t, Migrations)) })
}

func testStore(t *testing.T, d *db.DB) {
	ctx := context.Background()
	log := &entries{}
	s := New(d, log)
	t.Cleanup(s.Close)
	now := time.Now().UTC().Truncate(time.Microsecond)
	req := func(id string, expires time.Time) verifier.Request {
		return verifier.Request{ID: id, ClientID: "agency", Purpose: "check", Categories: []string{"identity"}, DCQL: []byte(`{"credentials":[]}`),
			Nonce: "n-" + id, State: "s-" + id, ResponseMode: verifier.ModeDirectPost, Status: verifier.StatusPending, Created: now, Expires: expires}
	}
	one := audit.Entry{Action: "verifier.request"}
	if err := s.CreateRequest(ctx, req("r1", now.Add(time.Minute)), one); err != nil {
		t.Fatal(err)
	}
	got, err := s.Request(ctx, "r1")
	if err != nil || got.Nonce != "n-r1" || got.Status != verifier.StatusPending || !got.Expires.Equal(now.Add(time.Minute)) ||
		len(got.Categories) != 1 || string(got.DCQL) != `{"credentials":[]}` {
		t.Fatalf("read back: %+v %v", got, err)
	}
	if _, err := s.Request(ctx, "nope"); !errors.Is(err, verifier.ErrNotFound) {
		t.Errorf("unknown request: %v", err)
	}
	if err := s.MarkFetched(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Request(ctx, "r1"); got.Status != verifier.StatusFetched {
		t.Errorf("fetched: %s", got.Status)
	}

	// Answered once: the second Finish is refused, the first's result
	// and failure stay.
	if err := s.SetWebhook(ctx, "agency", "https://agency.example/hook"); err != nil {
		t.Fatal(err)
	}
	if u, err := s.Webhook(ctx, "agency"); err != nil || u != "https://agency.example/hook" {
		t.Errorf("webhook: %q %v", u, err)
	}
	notice := &verifier.Delivery{ID: "d1", ClientID: "agency", URL: "https://agency.example/hook", Sealed: []byte("sealed"), Created: now, RequestID: "r1"}
	if err := s.Finish(ctx, "r1", verifier.StatusVerified, nil, []byte("result"), now, notice, one); err != nil {
		t.Fatal(err)
	}
	f := &verifier.Failure{Reason: "nonce", Detail: "x"}
	if err := s.Finish(ctx, "r1", verifier.StatusFailed, f, nil, now, nil, one); !errors.Is(err, verifier.ErrClosed) {
		t.Errorf("a second answer: %v, want ErrClosed", err)
	}
	if got, _ := s.Request(ctx, "r1"); got.Status != verifier.StatusVerified || string(got.Result) != "result" || got.Failure != nil || got.Answered.IsZero() {
		t.Errorf("after two answers: %+v", got)
	}
	if len(log.got) != 2 {
		t.Errorf("%d entries appended, want 2 (the refused answer's none)", len(log.got))
	}

	// An answer after the request's time is refused; the expiry sweep
	// ends it and queues its notice.
	if err := s.CreateRequest(ctx, req("r2", now.Add(-time.Second))); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(ctx, "r2", verifier.StatusVerified, nil, nil, now, nil); !errors.Is(err, verifier.ErrClosed) {
		t.Errorf("an answer after expiry: %v, want ErrClosed", err)
	}
	due, err := s.Expiring(ctx, now, 10)
	if err != nil || len(due) != 1 || due[0].ID != "r2" {
		t.Fatalf("expiring: %v %v", due, err)
	}
	if err := s.Expire(ctx, "r2", &verifier.Delivery{ID: "d2", ClientID: "agency", URL: "https://agency.example/hook", Created: now, RequestID: "r2"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Expire(ctx, "r2", nil); !errors.Is(err, verifier.ErrClosed) {
		t.Errorf("expiring twice: %v", err)
	}

	// Cancel: unknown, answered, open.
	if err := s.CreateRequest(ctx, req("r3", now.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	if err := s.Cancel(ctx, "other-agency", "r3", now); !errors.Is(err, verifier.ErrNotFound) {
		t.Errorf("another agency cancelling: %v", err)
	}
	if err := s.Cancel(ctx, "agency", "r1", now); !errors.Is(err, verifier.ErrClosed) {
		t.Errorf("cancelling an answered request: %v", err)
	}
	if err := s.Cancel(ctx, "agency", "r3", now); err != nil {
		t.Errorf("cancel: %v", err)
	}

	// The outbox: both notices are due; a claim leases them, so a second
	// claim (another replica) gets none; a retry is due later; delivered
	// ones never come back.
	claimed, err := s.ClaimDeliveries(ctx, now, now.Add(time.Minute), 10)
	if err != nil || len(claimed) != 2 || claimed[0].Attempts != 1 {
		t.Fatalf("claim: %+v %v", claimed, err)
	}
	if again, _ := s.ClaimDeliveries(ctx, now.Add(time.Second), now.Add(time.Minute), 10); len(again) != 0 {
		t.Errorf("claimed again within the lease: %+v", again)
	}
	if err := s.Delivered(ctx, "d1", now); err != nil {
		t.Fatal(err)
	}
	if err := s.Retry(ctx, "d2", now.Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if early, _ := s.ClaimDeliveries(ctx, now.Add(5*time.Second), now.Add(time.Minute), 10); len(early) != 0 {
		t.Errorf("claimed before its retry: %+v", early)
	}
	later, err := s.ClaimDeliveries(ctx, now.Add(2*time.Minute), now.Add(3*time.Minute), 10)
	if err != nil || len(later) != 1 || later[0].ID != "d2" || later[0].Attempts != 2 {
		t.Errorf("the retry: %+v %v", later, err)
	}
	if err := s.GiveUp(ctx, "d2", now); err != nil {
		t.Fatal(err)
	}
	if none, _ := s.ClaimDeliveries(ctx, now.Add(time.Hour), now.Add(2*time.Hour), 10); len(none) != 0 {
		t.Errorf("delivered or given-up notices claimed: %+v", none)
	}

	// Results go once past their retention.
	if n, err := s.DropResults(ctx, now.Add(time.Second)); err != nil || n != 1 {
		t.Errorf("drop: %d %v", n, err)
	}
	if got, _ := s.Request(ctx, "r1"); got.Result != nil || got.Status != verifier.StatusVerified {
		t.Errorf("after the drop: %+v", got)
	}
	// Answers together: of twenty answers to ten requests, sent at once
	// (they share transactions), each request takes one.
	var wg sync.WaitGroup
	var mu sync.Mutex
	taken := map[string]int{}
	for i := range 10 {
		if err := s.CreateRequest(ctx, req(fmt.Sprintf("g%d", i), now.Add(time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("g%d", i%10)
			err := s.Finish(ctx, id, verifier.StatusVerified, nil, []byte("r"), now, nil, audit.Entry{Action: "verifier.present"})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				taken[id]++
			} else if !errors.Is(err, verifier.ErrClosed) {
				t.Errorf("answer to %s: %v", id, err)
			}
		}()
	}
	wg.Wait()
	for i := range 10 {
		if id := fmt.Sprintf("g%d", i); taken[id] != 1 {
			t.Errorf("%s taken %d times, want once", id, taken[id])
		}
	}
	if err := s.SetWebhook(ctx, "agency", ""); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.Webhook(ctx, "agency"); u != "" {
		t.Errorf("removed webhook: %q", u)
	}
}
