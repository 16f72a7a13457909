package sqlstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
	mobileapi "github.com/cedula/cedula/mobile-api"
	"github.com/cedula/cedula/mobile-api/sqlstore"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func reservation(citizen, key string, hash byte, now time.Time) mobileapi.Reservation {
	return mobileapi.Reservation{CitizenID: citizen, Key: key, Hash: bytes.Repeat([]byte{hash}, 32), Now: now,
		Expired: now.Add(-mobileapi.RecordTTL), Abandoned: now.Add(-mobileapi.PendingTTL)}
}

// TestStore runs the store's contract on a fresh database per dialect.
func TestStore(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := sqlstore.New(d)
		reserve := func(r mobileapi.Reservation) (mobileapi.IdempotencyRecord, bool) {
			t.Helper()
			rec, ok, err := s.Reserve(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			return rec, ok
		}

		if _, ok := reserve(reservation("A", "k1", 1, t0)); !ok {
			t.Fatal("first reserve: got not reserved, want reserved")
		}
		rec, ok := reserve(reservation("A", "k1", 2, t0.Add(time.Second)))
		if ok || rec.Sealed != nil || !bytes.Equal(rec.Hash, bytes.Repeat([]byte{1}, 32)) || !rec.Created.Equal(t0) {
			t.Fatalf("second reserve while pending: got %v %+v, want the pending record of hash 1 created %v", ok, rec, t0)
		}
		if _, ok := reserve(reservation("B", "k1", 1, t0)); !ok {
			t.Error("another citizen's same key: got not reserved, want reserved")
		}

		if err := s.Complete(ctx, "A", "k1", []byte("sealed answer")); err != nil {
			t.Fatal(err)
		}
		rec, ok = reserve(reservation("A", "k1", 1, t0.Add(time.Hour)))
		if ok || string(rec.Sealed) != "sealed answer" {
			t.Fatalf("reserve after complete: got %v %q, want the sealed answer", ok, rec.Sealed)
		}
		// Release leaves a completed record alone; Complete does not
		// overwrite one.
		if err := s.Release(ctx, "A", "k1"); err != nil {
			t.Fatal(err)
		}
		if err := s.Complete(ctx, "A", "k1", []byte("other")); err != nil {
			t.Fatal(err)
		}
		if rec, _ := reserve(reservation("A", "k1", 1, t0.Add(time.Hour))); string(rec.Sealed) != "sealed answer" {
			t.Errorf("after release and complete again: got %q, want the first answer kept", rec.Sealed)
		}
		// Past RecordTTL the key is free again, with any body.
		if _, ok := reserve(reservation("A", "k1", 3, t0.Add(mobileapi.RecordTTL+time.Second))); !ok {
			t.Error("reserve after 24 h: got not reserved, want reserved")
		}

		// A released key is free at once.
		reserve(reservation("A", "k2", 1, t0))
		if err := s.Release(ctx, "A", "k2"); err != nil {
			t.Fatal(err)
		}
		if _, ok := reserve(reservation("A", "k2", 2, t0)); !ok {
			t.Error("reserve after release: got not reserved, want reserved")
		}
		// A pending record older than PendingTTL is taken over.
		reserve(reservation("A", "k3", 1, t0))
		if _, ok := reserve(reservation("A", "k3", 1, t0.Add(mobileapi.PendingTTL-time.Second))); ok {
			t.Error("reserve of a fresh pending key: got reserved, want not")
		}
		if _, ok := reserve(reservation("A", "k3", 1, t0.Add(mobileapi.PendingTTL+time.Second))); !ok {
			t.Error("reserve of an abandoned pending key: got not reserved, want reserved")
		}

		// Purge drops what is older than its bound.
		n, err := s.Purge(ctx, t0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 { // B/k1 and A/k2 (t0); A/k1 and A/k3 were made anew later
			t.Errorf("purge: got %d rows, want 2", n)
		}
	}, sqlstore.Migrations)
}

// TestReserveConcurrently: of many requests racing for one key, through
// two handles on one database as two replicas would, exactly one
// reserves it.
func TestReserveConcurrently(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			var url string
			if dialect == "sqlite" {
				url = t.TempDir() + "/cedula.db"
			} else {
				url = dbtest.PostgresURL(t)
			}
			var stores []*sqlstore.Store
			for i := range 2 {
				d, err := db.Open(context.Background(), url)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { d.Close() })
				if i == 0 {
					if _, err := d.Migrate(context.Background(), sqlstore.Migrations); err != nil {
						t.Fatal(err)
					}
				}
				stores = append(stores, sqlstore.New(d))
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			won := 0
			for i := range 8 {
				wg.Go(func() {
					_, ok, err := stores[i%2].Reserve(context.Background(), reservation("A", "race", 1, t0))
					if err != nil {
						t.Error(fmt.Errorf("reserve %d: %w", i, err))
					}
					if ok {
						mu.Lock()
						won++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if won != 1 {
				t.Errorf("got %d reservations of one key, want 1", won)
			}
		})
	}
}

// TestDevices runs the device store's contract on a fresh database per
// dialect: per citizen, bounded, another citizen's not found.
func TestDevices(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := sqlstore.New(d)
		add := func(citizen, id string, max int) error {
			return s.AddDevice(ctx, mobileapi.PushDevice{ID: id, CitizenID: citizen, Platform: "ios", Sealed: []byte("sealed " + id), Created: t0}, max)
		}
		for _, id := range []string{"d1", "d2"} {
			if err := add("A", id, 2); err != nil {
				t.Fatal(err)
			}
		}
		if err := add("A", "d3", 2); !errors.Is(err, mobileapi.ErrTooManyDevices) {
			t.Errorf("a third device with max 2: got %v, want ErrTooManyDevices", err)
		}
		if err := add("B", "d1", 2); err != nil {
			t.Errorf("another citizen's device of the same id: %v", err)
		}
		ds, err := s.Devices(ctx, "A")
		if err != nil || len(ds) != 2 || string(ds[0].Sealed) != "sealed "+ds[0].ID || !ds[0].Created.Equal(t0) || ds[0].CitizenID != "A" {
			t.Fatalf("A's devices: got %+v %v, want d1 and d2", ds, err)
		}
		if err := s.DeleteDevice(ctx, "B", "d2"); !errors.Is(err, mobileapi.ErrNotFound) {
			t.Errorf("B deleting A's d2: got %v, want ErrNotFound", err)
		}
		if err := s.DeleteDevice(ctx, "A", "d2"); err != nil {
			t.Fatal(err)
		}
		if ds, _ := s.Devices(ctx, "A"); len(ds) != 1 || ds[0].ID != "d1" {
			t.Errorf("after deleting d2: got %+v, want d1", ds)
		}
		if ds, _ := s.Devices(ctx, "B"); len(ds) != 1 {
			t.Errorf("B's devices: got %d, want 1", len(ds))
		}
	}, sqlstore.Migrations)
}

// TestDeleteCitizen: erasure takes the citizen's devices and kept answers,
// and nobody else's.
func TestDeleteCitizen(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		s := sqlstore.New(d)
		now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
		for _, c := range []string{"ana", "beto"} {
			if err := s.AddDevice(ctx, mobileapi.PushDevice{ID: "d-" + c, CitizenID: c, Platform: "ios", Sealed: []byte("x"), Created: now}, 20); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.Reserve(ctx, mobileapi.Reservation{CitizenID: c, Key: "k", Hash: []byte("h"), Now: now,
				Expired: now.Add(-time.Hour), Abandoned: now.Add(-time.Minute)}); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := s.DeleteCitizen(ctx, "ana"); err != nil || n != 2 {
			t.Fatalf("DeleteCitizen: %d %v, want 2 rows", n, err)
		}
		if ds, err := s.Devices(ctx, "ana"); err != nil || len(ds) != 0 {
			t.Errorf("Ana's devices after: %v %v", ds, err)
		}
		if ds, err := s.Devices(ctx, "beto"); err != nil || len(ds) != 1 {
			t.Errorf("Beto's devices after: %v %v", ds, err)
		}
		if _, reserved, err := s.Reserve(ctx, mobileapi.Reservation{CitizenID: "ana", Key: "k", Hash: []byte("h"), Now: now,
			Expired: now.Add(-time.Hour), Abandoned: now.Add(-time.Minute)}); err != nil || !reserved {
			t.Errorf("Ana's key after erasure: reserved=%v %v, want a fresh reservation", reserved, err)
		}
	}, sqlstore.Migrations)
}
