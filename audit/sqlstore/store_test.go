package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/sqlstore"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/internal/keys/localkeys"
)

const origin = "audit.cedula.test/log"

func entry(i int) audit.Entry {
	return audit.Entry{
		Time:    time.Date(2026, 3, 1, 9, 30, 0, i*1000, time.UTC),
		Actor:   audit.Actor{Kind: audit.ActorCitizen, ID: "psn-1"},
		Action:  "consent.decide",
		Subject: "psn-1", Purpose: "dpv:ServiceProvision", LegalBasis: "consent",
		Categories: []string{"identity"}, Outcome: audit.Allowed,
		RequestID: fmt.Sprint("req-", i),
	}
}

func appendN(t *testing.T, s *sqlstore.Store, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if _, err := s.Append(t.Context(), entry(i)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTamperedHashRow: a stored subtree hash changed in the database (an
// operator rewriting history) makes the Checkpointer refuse to sign.
func TestTamperedHashRow(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		s := open(t, d)
		km, err := localkeys.Open(filepath.Join(t.TempDir(), "keystore.json"), localkeys.WithKEK(make([]byte, 32)))
		if err != nil {
			t.Fatal(err)
		}
		cp, err := audit.NewCheckpointer(audit.CheckpointerConfig{Origin: origin, Log: s, Store: s, Keys: km})
		if err != nil {
			t.Fatal(err)
		}
		appendN(t, s, 0, 10)
		if c, err := cp.Checkpoint(ctx); err != nil || c.Size != 10 {
			t.Fatalf("Checkpoint: got size %d, %v; want 10", c.Size, err)
		}
		// Leaf 7's row holds the hash of [0, 8) at level 3 (bytes 96–127).
		var hs []byte
		if err := d.QueryRowContext(ctx, `SELECT hashes FROM audit_entries WHERE idx = 7`).Scan(&hs); err != nil {
			t.Fatal(err)
		}
		if len(hs) != 4*tlog.HashSize {
			t.Fatalf("leaf 7 stores %d bytes of hashes, want %d", len(hs), 4*tlog.HashSize)
		}
		hs[3*tlog.HashSize] ^= 1
		if _, err := d.ExecContext(ctx, `UPDATE audit_entries SET hashes = $1 WHERE idx = 7`, hs); err != nil {
			t.Fatal(err)
		}
		appendN(t, s, 10, 12)
		_, err = cp.Checkpoint(ctx)
		if !errors.Is(err, audit.ErrInconsistent) {
			t.Errorf("Checkpoint after tampering: got %v, want ErrInconsistent", err)
		}
		if _, err := s.CheckpointAt(ctx, 12); !errors.Is(err, audit.ErrNotFound) {
			t.Errorf("CheckpointAt(12): got %v, want ErrNotFound", err)
		}
	}, sqlstore.Migrations)
}

// TestTamperedEntryRow: an entry changed in the database no longer proves
// its inclusion under the signed root.
func TestTamperedEntryRow(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		s := open(t, d)
		appendN(t, s, 0, 9)
		root, err := audit.TreeHash(ctx, s, 9)
		if err != nil {
			t.Fatal(err)
		}
		forged, err := entry(100).Canonical()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.ExecContext(ctx, `UPDATE audit_entries SET data = $1 WHERE idx = 4`, forged); err != nil {
			t.Fatal(err)
		}
		recs, err := s.Entries(ctx, 4, 5)
		if err != nil {
			t.Fatal(err)
		}
		p, err := audit.ProveInclusion(ctx, s, 4, 9)
		if err != nil {
			t.Fatal(err)
		}
		if err := audit.CheckInclusion(p, 4, 9, recs[0].LeafHash(), root); !errors.Is(err, audit.ErrProof) {
			t.Errorf("inclusion of the altered entry 4: got %v, want ErrProof", err)
		}
	}, sqlstore.Migrations)
}

// TestMissingRows: rows deleted under the head are ErrCorrupt, not a
// client's mistake.
func TestMissingRows(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		s := open(t, d)
		appendN(t, s, 0, 6)
		for _, q := range []string{`UPDATE audit_entries SET hashes = NULL WHERE idx = 2`, `DELETE FROM audit_entries WHERE idx = 3`} {
			if _, err := d.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		_, err := s.ReadHashes(ctx, []int64{tlog.StoredHashIndex(0, 2)})
		if !errors.Is(err, audit.ErrCorrupt) || audit.IsBadRequest(err) {
			t.Errorf("ReadHashes of a deleted row: got %v, want ErrCorrupt", err)
		}
		_, err = s.Entries(ctx, 0, 6)
		if !errors.Is(err, audit.ErrCorrupt) {
			t.Errorf("Entries over a deleted row: got %v, want ErrCorrupt", err)
		}
	}, sqlstore.Migrations)
}

// TestOutboxSurvivesRestart: an entry committed with AppendTx is durable
// before it is sequenced; a store opened later sequences it.
func TestOutboxSurvivesRestart(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		a := sqlstore.New(d, sqlstore.WithPollInterval(time.Hour))
		appendN(t, a, 0, 2)
		tx, err := d.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.AppendTx(ctx, tx, entry(2)); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		a.Close()
		if n, _ := a.Size(ctx); n != 2 {
			t.Fatalf("Size before the restart: got %d, want 2 (not sequenced yet)", n)
		}
		b := open(t, d)
		if err := b.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		recs, err := b.Entries(ctx, 2, 3)
		if err != nil {
			t.Fatal(err)
		}
		if e, err := recs[0].Entry(); err != nil || e.RequestID != "req-2" {
			t.Errorf("entry 2: got %q, %v; want req-2", e.RequestID, err)
		}
	}, sqlstore.Migrations)
}

func TestClosed(t *testing.T) {
	s := sqlstore.New(dbtest.SQLite(t, sqlstore.Migrations))
	s.Close()
	if _, err := s.Append(context.Background(), entry(0)); !errors.Is(err, audit.ErrClosed) {
		t.Errorf("Append after Close: got %v, want ErrClosed", err)
	}
}
