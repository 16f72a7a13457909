package sqlstore_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/sqlstore"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/keys/localkeys"
)

// wrapper returns the wrapping capability of a fresh local keystore.
func wrapper(t *testing.T) keys.Wrapper {
	t.Helper()
	km, err := localkeys.Open(filepath.Join(t.TempDir(), "keystore.json"), localkeys.WithKEK(make([]byte, localkeys.KEKSize)))
	if err != nil {
		t.Fatal(err)
	}
	w, err := keys.WrapperOf(km)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func newShredder(t *testing.T, d *db.DB, w keys.Wrapper) *audit.Shredder {
	t.Helper()
	sh, err := audit.NewShredder(audit.ShredderConfig{Keys: sqlstore.NewSubjectKeys(d), Wrapper: w})
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

func detailsOf(subject string, i int) []byte {
	return fmt.Appendf(nil, `{"subject":%q,"address":"Calle Mayor %d, Madrid"}`, subject, i)
}

// TestCryptoShredding: entries carry details sealed under their subject's
// key; erasing one subject makes exactly their details unreadable, while
// the entries, their leaf hashes, every inclusion proof and the root stay
// as they were.
func TestCryptoShredding(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		s := open(t, d)
		w := wrapper(t)
		sh := newShredder(t, d, w)
		subjects := []string{"psn-ana", "psn-bruno"}
		const n = 12
		for i := range n {
			subj := subjects[i%2]
			e := entry(i)
			e.Subject = subj
			sealed, err := sh.Seal(ctx, subj, detailsOf(subj, i))
			if err != nil {
				t.Fatalf("Seal %d: %v", i, err)
			}
			if bytes.Contains(sealed, []byte("Calle Mayor")) {
				t.Fatalf("sealed details of entry %d hold the plaintext", i)
			}
			e.Details = sealed
			if _, err := s.Append(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		recs, err := s.Entries(ctx, 0, n)
		if err != nil {
			t.Fatal(err)
		}
		openAll := func(sh *audit.Shredder, erased string) {
			t.Helper()
			for _, r := range recs {
				e, err := r.Entry()
				if err != nil {
					t.Fatal(err)
				}
				got, err := sh.Open(ctx, e.Subject, e.Details)
				if e.Subject == erased {
					if !errors.Is(err, audit.ErrErased) || got != nil {
						t.Errorf("Open of erased entry %d: got %q, %v; want ErrErased", r.Index, got, err)
					}
					continue
				}
				if want := detailsOf(e.Subject, int(r.Index)); err != nil || !bytes.Equal(got, want) {
					t.Errorf("Open of entry %d: got %q, %v; want %q", r.Index, got, err, want)
				}
			}
		}
		openAll(sh, "")
		// A second Shredder (another replica, empty cache) reads them too.
		openAll(newShredder(t, d, w), "")

		rootBefore, err := audit.TreeHash(ctx, s, n)
		if err != nil {
			t.Fatal(err)
		}
		if err := sh.Erase(ctx, "psn-ana"); err != nil {
			t.Fatalf("Erase: %v", err)
		}
		if err := sh.Erase(ctx, "psn-ana"); err != nil {
			t.Errorf("second Erase: %v", err)
		}
		openAll(sh, "psn-ana")
		openAll(newShredder(t, d, w), "psn-ana")
		if _, err := sh.Seal(ctx, "psn-ana", []byte("more")); !errors.Is(err, audit.ErrErased) {
			t.Errorf("Seal for an erased subject: got %v, want ErrErased", err)
		}

		rootAfter, err := audit.TreeHash(ctx, s, n)
		if err != nil {
			t.Fatal(err)
		}
		if rootAfter != rootBefore {
			t.Fatalf("root changed by the erasure: %s, was %s", rootAfter, rootBefore)
		}
		after, err := s.Entries(ctx, 0, n)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range after {
			if !bytes.Equal(r.Data, recs[i].Data) {
				t.Errorf("entry %d changed by the erasure", i)
			}
			p, err := audit.ProveInclusion(ctx, s, r.Index, n)
			if err != nil {
				t.Fatal(err)
			}
			if err := audit.CheckInclusion(p, r.Index, n, r.LeafHash(), rootBefore); err != nil {
				t.Errorf("inclusion of entry %d after the erasure: %v", r.Index, err)
			}
		}
		// The erased subject's wrapped key is gone from the table.
		var wrapped []byte
		if err := d.QueryRowContext(ctx, `SELECT wrapped FROM audit_subject_keys WHERE subject = 'psn-ana'`).Scan(&wrapped); err != nil || wrapped != nil {
			t.Errorf("wrapped key of the erased subject: got %x, %v; want NULL", wrapped, err)
		}
	}, sqlstore.Migrations)
}

// TestConcurrentFirstSeal: many first Seals for one subject, through two
// Shredders (two replicas), store exactly one key, and every sealed value
// opens.
func TestConcurrentFirstSeal(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		w := wrapper(t)
		shs := []*audit.Shredder{newShredder(t, d, w), newShredder(t, d, w)}
		const n = 16
		sealed := make([][]byte, n)
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { sealed[i], errs[i] = shs[i%2].Seal(ctx, "psn-carla", detailsOf("psn-carla", i)) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("Seal %d: %v", i, err)
			}
		}
		var rows int
		if err := d.QueryRowContext(ctx, `SELECT count(*) FROM audit_subject_keys WHERE subject = 'psn-carla'`).Scan(&rows); err != nil || rows != 1 {
			t.Fatalf("key rows for the subject: got %d, %v; want 1", rows, err)
		}
		// The store alone: of concurrent creations with different keys,
		// one wins and every caller gets that one.
		k := sqlstore.NewSubjectKeys(d)
		stored := make([][]byte, n)
		for i := range n {
			wg.Go(func() { stored[i], errs[i] = k.CreateSubjectKey(ctx, "psn-dora", fmt.Appendf(nil, "key-%d", i)) })
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil || !bytes.Equal(stored[i], stored[0]) {
				t.Errorf("CreateSubjectKey %d: got %q, %v; want %q like the others", i, stored[i], errs[i], stored[0])
			}
		}
		fresh := newShredder(t, d, w)
		for i, c := range sealed {
			if got, err := fresh.Open(ctx, "psn-carla", c); err != nil || !bytes.Equal(got, detailsOf("psn-carla", i)) {
				t.Errorf("Open %d: got %q, %v", i, got, err)
			}
		}
	}, sqlstore.Migrations)
}

// TestSubjectKeys: the store's contract, directly.
func TestSubjectKeys(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		k := sqlstore.NewSubjectKeys(d)
		if _, err := k.SubjectKey(ctx, "psn-x"); !errors.Is(err, audit.ErrNotFound) {
			t.Errorf("SubjectKey of an unknown subject: got %v, want ErrNotFound", err)
		}
		got, err := k.CreateSubjectKey(ctx, "psn-x", []byte("first"))
		if err != nil || string(got) != "first" {
			t.Fatalf("CreateSubjectKey: got %q, %v", got, err)
		}
		if got, err := k.CreateSubjectKey(ctx, "psn-x", []byte("second")); err != nil || string(got) != "first" {
			t.Errorf("CreateSubjectKey again: got %q, %v; want the first key", got, err)
		}
		if got, err := k.SubjectKey(ctx, "psn-x"); err != nil || string(got) != "first" {
			t.Errorf("SubjectKey: got %q, %v", got, err)
		}
		for range 2 {
			if err := k.EraseSubjectKey(ctx, "psn-x"); err != nil {
				t.Fatalf("EraseSubjectKey: %v", err)
			}
		}
		if _, err := k.SubjectKey(ctx, "psn-x"); !errors.Is(err, audit.ErrErased) {
			t.Errorf("SubjectKey after erasure: got %v, want ErrErased", err)
		}
		if _, err := k.CreateSubjectKey(ctx, "psn-x", []byte("third")); !errors.Is(err, audit.ErrErased) {
			t.Errorf("CreateSubjectKey after erasure: got %v, want ErrErased", err)
		}
		// A subject erased before it had any key never gets one.
		if err := k.EraseSubjectKey(ctx, "psn-y"); err != nil {
			t.Fatal(err)
		}
		if _, err := k.CreateSubjectKey(ctx, "psn-y", []byte("k")); !errors.Is(err, audit.ErrErased) {
			t.Errorf("CreateSubjectKey for a subject erased early: got %v, want ErrErased", err)
		}
	}, sqlstore.Migrations)
}

// TestErasedKeyLeavesNoBytes: on SQLite, the erased wrapped key is found
// neither in the database file nor in its WAL (secure_delete and the
// checkpoint), while the other subject's still is.
func TestErasedKeyLeavesNoBytes(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "audit.db")
	d, err := db.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Migrate(ctx, sqlstore.Migrations); err != nil {
		t.Fatal(err)
	}
	sh := newShredder(t, d, wrapper(t))
	k := sqlstore.NewSubjectKeys(d)
	for _, subj := range []string{"psn-ana", "psn-bruno"} {
		if _, err := sh.Seal(ctx, subj, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	ana, err := k.SubjectKey(ctx, "psn-ana")
	if err != nil {
		t.Fatal(err)
	}
	bruno, err := k.SubjectKey(ctx, "psn-bruno")
	if err != nil {
		t.Fatal(err)
	}
	// Put the keys into the database file itself, not only the WAL.
	if _, err := d.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	files := func() []byte {
		var all []byte
		for _, f := range []string{path, path + "-wal"} {
			b, err := os.ReadFile(f)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
		return all
	}
	if b := files(); !bytes.Contains(b, ana) || !bytes.Contains(b, bruno) {
		t.Fatal("the wrapped keys are not in the files before the erasure: the test looks in the wrong place")
	}
	if err := sh.Erase(ctx, "psn-ana"); err != nil {
		t.Fatal(err)
	}
	b := files()
	// Not one 8-byte piece of the wrapped key may remain: a freed cell
	// partly overwritten by its replacement still holds the rest.
	for i := 0; i+8 <= len(ana); i += 4 {
		if bytes.Contains(b, ana[i:i+8]) {
			t.Errorf("bytes %d–%d of the erased subject's wrapped key are still in the database files", i, i+8)
		}
	}
	if !bytes.Contains(b, bruno) {
		t.Errorf("the other subject's wrapped key is missing from the database files")
	}
}
