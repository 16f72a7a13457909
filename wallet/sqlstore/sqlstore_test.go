package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/wallet"
	"github.com/cedula/cedula/wallet/sqlstore"
)

// log records the entries appended, or fails when told to.
type log struct {
	entries []audit.Entry
	fail    bool
}

func (l *log) AppendTx(_ context.Context, _ *sql.Tx, es ...audit.Entry) error {
	if l.fail {
		return errors.New("log down")
	}
	l.entries = append(l.entries, es...)
	return nil
}

func TestStore(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		l := &log{}
		s := sqlstore.New(d, l)
		t0 := time.Date(2026, 12, 5, 10, 0, 0, 123000, time.UTC)
		e := audit.Entry{Action: wallet.ActionReceive}
		for i, id := range []string{"wc-a", "wc-b"} {
			if err := s.PutCredential(ctx, wallet.Record{ID: id, CitizenID: "ana", Received: t0.Add(time.Duration(i) * time.Minute), Sealed: []byte{1, byte(i)}, Summary: []byte{2, byte(i)}}, e); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.PutCredential(ctx, wallet.Record{ID: "wc-c", CitizenID: "beto", Received: t0, Sealed: []byte{2}}, e); err != nil {
			t.Fatal(err)
		}
		// An entry that cannot be appended undoes its change.
		l.fail = true
		if err := s.PutCredential(ctx, wallet.Record{ID: "wc-d", CitizenID: "ana", Received: t0, Sealed: []byte{3}}, e); err == nil {
			t.Fatal("put with the log down: no error")
		}
		l.fail = false
		rs, err := s.ListCredentials(ctx, "ana")
		if err != nil || len(rs) != 2 || rs[0].ID != "wc-b" || !rs[1].Received.Equal(t0) || rs[1].Summary[1] != 0 || rs[0].Summary[1] != 1 {
			t.Fatalf("Ana's list: %+v %v, want wc-b then wc-a", rs, err)
		}
		if rs[0].Sealed != nil {
			t.Errorf("a listed record with a summary came with its whole content")
		}
		if r, err := s.GetCredential(ctx, "ana", "wc-a"); err != nil || len(r.Sealed) != 2 || r.Sealed[1] != 0 {
			t.Errorf("get: %+v %v, want the whole record", r, err)
		}
		if _, err := s.GetCredential(ctx, "beto", "wc-a"); !errors.Is(err, wallet.ErrNotFound) {
			t.Errorf("Beto getting Ana's: %v", err)
		}
		if err := s.DeleteCredential(ctx, "beto", "wc-a", e); !errors.Is(err, wallet.ErrNotFound) {
			t.Errorf("Beto deleting Ana's: %v", err)
		}
		if err := s.DeleteCredential(ctx, "ana", "wc-a", e); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetCredential(ctx, "ana", "wc-a"); !errors.Is(err, wallet.ErrNotFound) {
			t.Errorf("after delete: %v", err)
		}
		if n, err := s.DeleteCitizen(ctx, "ana"); err != nil || n != 1 {
			t.Errorf("DeleteCitizen: %d %v, want 1", n, err)
		}
		if r, err := s.GetCredential(ctx, "beto", "wc-c"); err != nil || r.CitizenID != "beto" {
			t.Errorf("Beto's own: %+v %v", r, err)
		}
		if len(l.entries) != 4 {
			t.Errorf("%d entries appended, want 4 (3 puts, 1 delete)", len(l.entries))
		}
	}, sqlstore.Migrations)
}

// TestPending: a pending acceptance is taken once, by its citizen only,
// never once expired; expired ones are swept.
func TestPending(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		s := sqlstore.New(d, &log{})
		now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
		for _, r := range []wallet.PendingRecord{
			{ID: "wp-1", CitizenID: "ana", Expires: now.Add(time.Minute), Sealed: []byte{1}},
			{ID: "wp-2", CitizenID: "ana", Expires: now.Add(-time.Second), Sealed: []byte{2}},
			{ID: "wp-3", CitizenID: "ana", Expires: now.Add(-time.Second), Sealed: []byte{3}},
		} {
			if err := s.PutPending(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.TakePending(ctx, "beto", "wp-1", now); !errors.Is(err, wallet.ErrNotFound) {
			t.Errorf("Beto taking Ana's: %v", err)
		}
		if r, err := s.TakePending(ctx, "ana", "wp-1", now); err != nil || r.Sealed[0] != 1 || !r.Expires.Equal(now.Add(time.Minute)) {
			t.Errorf("take: %+v %v", r, err)
		}
		if _, err := s.TakePending(ctx, "ana", "wp-1", now); !errors.Is(err, wallet.ErrNotFound) {
			t.Errorf("taking twice: %v", err)
		}
		if _, err := s.TakePending(ctx, "ana", "wp-2", now); !errors.Is(err, wallet.ErrNotFound) {
			t.Errorf("taking an expired one: %v", err)
		}
		if n, err := s.DeleteExpiredPending(ctx, now); err != nil || n != 1 {
			t.Errorf("sweep: %d %v, want 1 (wp-3)", n, err)
		}
	}, sqlstore.Migrations)
}

// TestPresentations: a history row goes in with the credentials' new
// sealed content and its entry, or not at all; each citizen sees their
// own, newest first.
func TestPresentations(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		l := &log{}
		s := sqlstore.New(d, l)
		t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
		if err := s.PutCredential(ctx, wallet.Record{ID: "wc-a", CitizenID: "ana", Received: t0, Sealed: []byte{1}}); err != nil {
			t.Fatal(err)
		}
		e := audit.Entry{Action: wallet.ActionPresent}
		used := []wallet.Record{{ID: "wc-a", CitizenID: "ana", Sealed: []byte{2}}, {ID: "wc-gone", CitizenID: "ana", Sealed: []byte{9}}}
		if err := s.PutPresentation(ctx, wallet.PresentationRecord{ID: "wh-1", CitizenID: "ana", At: t0, Sealed: []byte{7}}, used, e); err != nil {
			t.Fatal(err)
		}
		l.fail = true
		if err := s.PutPresentation(ctx, wallet.PresentationRecord{ID: "wh-2", CitizenID: "ana", At: t0.Add(time.Hour), Sealed: []byte{8}},
			[]wallet.Record{{ID: "wc-a", Sealed: []byte{3}}}, e); err == nil {
			t.Fatal("put with the log down: no error")
		}
		l.fail = false
		if err := s.PutPresentation(ctx, wallet.PresentationRecord{ID: "wh-3", CitizenID: "ana", At: t0.Add(time.Minute), Sealed: []byte{8}}, nil, e); err != nil {
			t.Fatal(err)
		}
		if err := s.PutPresentation(ctx, wallet.PresentationRecord{ID: "wh-4", CitizenID: "beto", At: t0, Sealed: []byte{5}}, nil, e); err != nil {
			t.Fatal(err)
		}
		rs, err := s.ListPresentations(ctx, "ana")
		if err != nil || len(rs) != 2 || rs[0].ID != "wh-3" || rs[1].ID != "wh-1" || !rs[1].At.Equal(t0) || rs[1].Sealed[0] != 7 {
			t.Fatalf("Ana's history: %+v %v, want wh-3 then wh-1", rs, err)
		}
		if r, err := s.GetCredential(ctx, "ana", "wc-a"); err != nil || r.Sealed[0] != 2 {
			t.Errorf("the credential after presenting: %+v %v, want sealed 2", r, err)
		}
		if len(l.entries) != 3 {
			t.Errorf("%d entries, want 3", len(l.entries))
		}
		if _, err := s.DeleteCitizen(ctx, "ana"); err != nil {
			t.Fatal(err)
		}
		if rs, _ := s.ListPresentations(ctx, "ana"); len(rs) != 0 {
			t.Errorf("after erasure: %d rows of history", len(rs))
		}
	}, sqlstore.Migrations)
}

// TestDeferred: a deferred issuance is claimed once it is due, by one
// claimer; not due, it is returned unclaimed; expired, another citizen's
// or deleted, it is not found; due ones are listed for housekeeping, and
// erasure and expiry delete them.
func TestDeferred(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		s := sqlstore.New(d, &log{})
		t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
		for _, r := range []wallet.DeferredRecord{
			{ID: "wd-a", CitizenID: "ana", Due: t0.Add(time.Minute), Expires: t0.Add(time.Hour), Sealed: []byte{1}},
			{ID: "wd-b", CitizenID: "ana", Due: t0.Add(2 * time.Minute), Expires: t0.Add(3 * time.Minute), Sealed: []byte{2}},
			{ID: "wd-c", CitizenID: "beto", Due: t0, Expires: t0.Add(time.Hour), Sealed: []byte{3}},
		} {
			if err := s.PutDeferred(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if rs, err := s.ListDeferred(ctx, "ana", t0); err != nil || len(rs) != 2 || rs[0].ID != "wd-a" || !rs[0].Due.Equal(t0.Add(time.Minute)) {
			t.Fatalf("Ana's: %+v %v", rs, err)
		}
		if r, claimed, err := s.ClaimDeferred(ctx, "ana", "wd-a", t0, t0.Add(time.Hour)); err != nil || claimed || r.Sealed[0] != 1 {
			t.Errorf("not due: %+v %v %v, want it unclaimed", r, claimed, err)
		}
		if _, _, err := s.ClaimDeferred(ctx, "beto", "wd-a", t0, t0); !errors.Is(err, wallet.ErrNotFound) {
			t.Errorf("Beto claiming Ana's: %v", err)
		}
		now := t0.Add(90 * time.Second)
		if rs, err := s.DueDeferred(ctx, now, 10); err != nil || len(rs) != 2 || rs[0].ID != "wd-c" || rs[1].ID != "wd-a" {
			t.Errorf("due: %+v %v, want wd-c, wd-a", rs, err)
		}
		r, claimed, err := s.ClaimDeferred(ctx, "ana", "wd-a", now, now.Add(time.Minute))
		if err != nil || !claimed || !r.Due.Equal(now.Add(time.Minute)) {
			t.Fatalf("claim: %+v %v %v", r, claimed, err)
		}
		if _, claimed, _ := s.ClaimDeferred(ctx, "ana", "wd-a", now, now.Add(time.Minute)); claimed {
			t.Error("claimed twice")
		}
		r.Due, r.Sealed = now.Add(time.Hour), []byte{9}
		if err := s.UpdateDeferred(ctx, r); err != nil {
			t.Fatal(err)
		}
		if rs, _ := s.ListDeferred(ctx, "ana", now); len(rs) != 2 || rs[0].Sealed[0] != 9 || !rs[0].Due.Equal(now.Add(time.Hour)) {
			t.Errorf("after update: %+v", rs)
		}
		if _, _, err := s.ClaimDeferred(ctx, "ana", "wd-b", t0.Add(3*time.Minute), t0.Add(time.Hour)); !errors.Is(err, wallet.ErrNotFound) {
			t.Errorf("expired: %v", err)
		}
		if n, err := s.DeleteExpiredPending(ctx, t0.Add(3*time.Minute)); err != nil || n != 1 {
			t.Errorf("expiry: %d %v, want 1", n, err)
		}
		if err := s.DeleteDeferred(ctx, "beto", "wd-a"); !errors.Is(err, wallet.ErrNotFound) {
			t.Errorf("Beto deleting Ana's: %v", err)
		}
		if err := s.DeleteDeferred(ctx, "ana", "wd-a"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteCitizen(ctx, "beto"); err != nil {
			t.Fatal(err)
		}
		if rs, _ := s.DueDeferred(ctx, t0.Add(time.Hour), 10); len(rs) != 0 {
			t.Errorf("left after deletion and erasure: %+v", rs)
		}
	}, sqlstore.Migrations)
}

// TestListSummaries: a list reads summaries alone when every credential
// has one, and the whole records of those without (stored before
// summaries existed) beside the others, newest first either way; the
// summaries stored before their arrival was kept beside them get it from
// their credentials.
func TestListSummaries(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		t0 := time.Date(2026, 12, 5, 10, 0, 0, 123000, time.UTC)
		// Before version 7: a summary without its arrival.
		for i, id := range []string{"wc-1", "wc-2"} {
			if _, err := d.ExecContext(ctx, `INSERT INTO wallet_credentials (id, citizen_id, received, sealed) VALUES ($1, 'ana', $2, $3)`,
				id, t0.Add(time.Duration(i)*time.Minute).UnixMicro(), []byte{1, byte(i)}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := d.ExecContext(ctx, `INSERT INTO wallet_summaries (id, citizen_id, summary) VALUES ('wc-1', 'ana', $1)`, []byte{2, 0}); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Migrate(ctx, sqlstore.Migrations); err != nil {
			t.Fatal(err)
		}
		s := sqlstore.New(d, &log{})
		if err := s.PutCredential(ctx, wallet.Record{ID: "wc-3", CitizenID: "ana", Received: t0.Add(2 * time.Minute), Sealed: []byte{1, 2}, Summary: []byte{2, 2}}); err != nil {
			t.Fatal(err)
		}
		type want struct {
			id              string
			sealed, summary bool
		}
		check := func(name string, ws ...want) {
			t.Helper()
			rs, err := s.ListCredentials(ctx, "ana")
			if err != nil || len(rs) != len(ws) {
				t.Fatalf("%s: %+v %v, want %d records", name, rs, err, len(ws))
			}
			for i, w := range ws {
				r := rs[i]
				if r.ID != w.id || r.CitizenID != "ana" || (r.Sealed != nil) != w.sealed || (r.Summary != nil) != w.summary {
					t.Errorf("%s: record %d is %+v, want %+v", name, i, r, w)
				}
			}
			if !rs[len(rs)-1].Received.Equal(t0) {
				t.Errorf("%s: the oldest arrived %v, want %v", name, rs[len(rs)-1].Received, t0)
			}
		}
		check("one without a summary", want{"wc-3", false, true}, want{"wc-2", true, false}, want{"wc-1", false, true})
		if err := s.DeleteCredential(ctx, "ana", "wc-2"); err != nil {
			t.Fatal(err)
		}
		check("every one with a summary", want{"wc-3", false, true}, want{"wc-1", false, true})
		if rs, err := s.ListCredentials(ctx, "beto"); err != nil || len(rs) != 0 {
			t.Errorf("an empty wallet: %+v %v", rs, err)
		}
	}, sqlstore.Migrations[:6])
}
