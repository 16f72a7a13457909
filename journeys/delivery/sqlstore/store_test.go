package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/journeys/delivery"
	"github.com/cedula/cedula/journeys/delivery/sqlstore"
)

type entries struct{ got []audit.Entry }

func (e *entries) AppendTx(_ context.Context, _ *sql.Tx, es ...audit.Entry) error {
	e.got = append(e.got, es...)
	return nil
}

// TestEnqueueTx: deliveries enqueued in a caller's transaction commit
// and roll back with it, entries included; the dedupe key is unique.
func TestEnqueueTx(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		log := &entries{}
		s := sqlstore.New(d, log)
		now := time.Now().UTC().Truncate(time.Microsecond)
		dl := func(id, key string) delivery.Delivery {
			return delivery.Delivery{ID: id, Dedupe: key, CitizenID: "ana", Channel: delivery.Inbox, Payload: []byte("sealed"),
				NextAt: now, Created: now}
		}
		mark := audit.Entry{Action: "journeys.test_step"}
		cases := []struct {
			name     string
			ds       []delivery.Delivery
			rollback bool
			ids      []string
			entries  int
		}{
			{"rolled back", []delivery.Delivery{dl("d1", "k1")}, true, []string{"d1"}, 1},
			{"committed", []delivery.Delivery{dl("d2", "k1")}, false, []string{"d2"}, 1},
			{"a duplicate: the first's ID, no entry", []delivery.Delivery{dl("d3", "k1")}, false, []string{"d2"}, 0},
			{"one new, one duplicate", []delivery.Delivery{dl("d4", "k2"), dl("d5", "k1")}, false, []string{"d4", "d2"}, 1},
		}
		for _, tc := range cases {
			log.got = nil
			var ids []string
			err := d.InTx(ctx, func(tx *sql.Tx) error {
				var err error
				if ids, err = s.EnqueueTx(ctx, tx, tc.ds, mark); err != nil {
					return err
				}
				if tc.rollback {
					return errors.New("the caller's step failed")
				}
				return nil
			})
			if tc.rollback != (err != nil) || len(ids) != len(tc.ids) || len(log.got) != tc.entries {
				t.Errorf("%s: got %v, %v, %d entries; want %v, %d entries", tc.name, ids, err, len(log.got), tc.ids, tc.entries)
				continue
			}
			for i := range ids {
				if ids[i] != tc.ids[i] {
					t.Errorf("%s: got IDs %v, want %v", tc.name, ids, tc.ids)
				}
			}
		}
		if _, err := s.Delivery(ctx, "d1"); !errors.Is(err, delivery.ErrNotFound) {
			t.Errorf("a rolled back delivery: got %v, want ErrNotFound", err)
		}
		if got, err := s.Delivery(ctx, "d2"); err != nil || got.Status != delivery.StatusPending || got.Attempts != 0 || string(got.Payload) != "sealed" {
			t.Errorf("got %+v, %v; want pending, no attempt, its payload", got, err)
		}
	}, sqlstore.Migrations)
}

// TestClaim: a claim takes at most n of the due deliveries, the earliest
// first, and the next claim the next ones.
func TestClaim(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := sqlstore.New(d, &entries{})
		now := time.Now().UTC().Truncate(time.Microsecond)
		var ds []delivery.Delivery
		for i := range 100 {
			at := now.Add(time.Duration(i-100) * time.Second)
			ds = append(ds, delivery.Delivery{ID: fmt.Sprintf("d%03d", i), Dedupe: fmt.Sprint("k", i), CitizenID: "ana", Channel: delivery.Inbox,
				NextAt: at, Created: at})
		}
		if _, err := s.Enqueue(ctx, ds); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			n           int
			first, last string
			count       int
		}{
			{16, "d000", "d015", 16},
			{16, "d016", "d031", 16},
			{100, "d032", "d099", 68},
			{16, "", "", 0},
		}
		for i, tc := range cases {
			got, err := s.Claim(ctx, now, now.Add(time.Minute), fmt.Sprint("L", i), tc.n)
			if err != nil {
				t.Fatal(err)
			}
			ids := make([]string, len(got))
			for j, g := range got {
				ids[j] = g.ID
			}
			slices.Sort(ids)
			if len(ids) != tc.count || tc.count > 0 && (ids[0] != tc.first || ids[len(ids)-1] != tc.last) {
				t.Errorf("claim %d of %d: got %d (%v), want %d from %s to %s", i, tc.n, len(ids), ids, tc.count, tc.first, tc.last)
			}
		}
	}, sqlstore.Migrations)
}

// TestPurge: deliveries done (sent or dead) before the cut go, with their
// dedupe keys; pending ones and later ones stay.
func TestPurge(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := sqlstore.New(d, &entries{})
		now := time.Now().UTC().Truncate(time.Microsecond)
		var ids []string
		for i, key := range []string{"old-sent", "old-dead", "new-sent", "pending"} {
			got, err := s.Enqueue(ctx, []delivery.Delivery{{ID: fmt.Sprint("d", i), Dedupe: key, CitizenID: "ana", Channel: delivery.Inbox,
				Payload: []byte("sealed"), NextAt: now, Created: now}})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, got[0])
		}
		claimed, err := s.Claim(ctx, now, now.Add(time.Minute), "L", 10)
		if err != nil || len(claimed) != 4 {
			t.Fatalf("claim: %d %v", len(claimed), err)
		}
		if err := s.Sent(ctx, ids[0], "L", now.Add(-40*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := s.Dead(ctx, ids[1], "L", now.Add(-31*24*time.Hour), "gone"); err != nil {
			t.Fatal(err)
		}
		if err := s.Sent(ctx, ids[2], "L", now.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		if n, err := s.Purge(ctx, now.Add(-30*24*time.Hour)); err != nil || n != 2 {
			t.Errorf("purge: %d %v, want 2", n, err)
		}
		for i, want := range []bool{false, false, true, true} {
			if _, err := s.Delivery(ctx, ids[i]); (err == nil) != want {
				t.Errorf("delivery %d after the purge: %v, want kept %v", i, err, want)
			}
		}
	}, sqlstore.Migrations)
}
