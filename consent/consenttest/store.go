package consenttest

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/consent"
)

// base is a time with a nanosecond part that stores drop.
var base = time.Date(2026, 3, 1, 9, 30, 0, 123456789, time.FixedZone("UYT", -3*60*60))

func key(tg string, i int) consent.Key {
	return consent.Key{Subject: fmt.Sprintf("subject-%s-%d", tg, i), Controller: "agency-" + tg, Purpose: "purpose-" + tg}
}

// ev returns event seq of type typ for the record id of k.
func ev(k consent.Key, id string, seq int64, typ consent.EventType, at time.Time) consent.Event {
	e := consent.Event{
		RecordID: id, Seq: seq, Type: typ, Key: k,
		PurposeVersion: 1, NoticeVersion: "n1", LegalBasis: consent.Consent,
		Categories: []string{"identity", "contact"}, Method: consent.MethodWeb,
		Actor: audit.Actor{Kind: audit.ActorCitizen, ID: "psn-" + k.Subject}, Time: at,
	}
	if typ == consent.Given || typ == consent.Renewed {
		e.Expires = at.Add(time.Hour)
	}
	return e
}

// stored returns e as a store hands it back: times in UTC to the µs.
func stored(e consent.Event) consent.Event {
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	if !e.Expires.IsZero() {
		e.Expires = e.Expires.UTC().Truncate(time.Microsecond)
	}
	return e
}

// appendEvents appends events one by one to a new record and returns it.
func appendEvents(t testing.TB, s consent.Store, events ...consent.Event) consent.Record {
	t.Helper()
	var r consent.Record
	for _, e := range events {
		_, err := s.Append(context.Background(), nil, consent.Transition{Prev: r, Event: e})
		must(t, err, fmt.Sprintf("Append %s #%d", e.Type, e.Seq))
		r = consent.Transition{Prev: r, Event: e}.Next()
	}
	return r
}

func wantErr(t testing.TB, op string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", op, err, want)
	}
}

// sameRecord compares two records field by field, times to the µs.
func sameRecord(t testing.TB, what string, got, want consent.Record) {
	t.Helper()
	norm := func(r consent.Record) consent.Record {
		for _, tp := range []*time.Time{&r.Created, &r.Updated, &r.Given, &r.Expires} {
			if !tp.IsZero() {
				*tp = tp.UTC().Truncate(time.Microsecond)
			}
		}
		return r
	}
	g, w := reflect.ValueOf(norm(got)), reflect.ValueOf(norm(want))
	for i := range w.NumField() {
		if a, b := g.Field(i).Interface(), w.Field(i).Interface(); !reflect.DeepEqual(a, b) {
			t.Errorf("%s %s: got %v, want %v", what, w.Type().Field(i).Name, a, b)
		}
	}
}

func testPurposeVersions(t *testing.T, s consent.Store) {
	ctx := context.Background()
	tg := tag()
	p := newPurpose(kindConsent, tg)
	p.Version = 1
	pos1, err := s.PutPurpose(ctx, p)
	must(t, err, "PutPurpose v1")
	if pos1 < 1 {
		t.Errorf("PutPurpose v1: got position %d, want ≥ 1", pos1)
	}
	got, err := s.Purpose(ctx, p.ID)
	must(t, err, "Purpose")
	if !got.Same(p) || got.Version != 1 || got.Created.IsZero() {
		t.Errorf("Purpose: got %+v, want %+v with version 1 and a creation time", got, p)
	}
	if !slices.Equal(got.Categories, p.Categories) {
		t.Errorf("Purpose categories: got %q, want %q (in order)", got.Categories, p.Categories)
	}
	wantErr(t, "PutPurpose v1 again", func() error { _, err := s.PutPurpose(ctx, p); return err }(), consent.ErrConflict)
	skip := p
	skip.Version = 3
	wantErr(t, "PutPurpose v3 after v1", func() error { _, err := s.PutPurpose(ctx, skip); return err }(), consent.ErrConflict)

	p2 := p
	p2.Version, p2.NoticeVersion, p2.Retention, p2.Profiling = 2, "n2", 0, true
	p2.Name.EN = "Second version"
	pos2, err := s.PutPurpose(ctx, p2)
	must(t, err, "PutPurpose v2")
	if pos2 <= pos1 {
		t.Errorf("PutPurpose v2: got position %d, want after %d", pos2, pos1)
	}
	if got, err := s.Purpose(ctx, p.ID); err != nil || got.Version != 2 || !got.Same(p2) {
		t.Errorf("Purpose after v2: got version %d (%v), want 2 and its fields", got.Version, err)
	}
	if got, err := s.PurposeVersion(ctx, p.ID, 1); err != nil || !got.Same(p) || got.Version != 1 {
		t.Errorf("PurposeVersion(1): got %+v, %v; want version 1 as stored", got, err)
	}
	_, err = s.PurposeVersion(ctx, p.ID, 3)
	wantErr(t, "PurposeVersion(3)", err, consent.ErrNotFound)
	_, err = s.Purpose(ctx, "no-such-"+tg)
	wantErr(t, "Purpose(unknown)", err, consent.ErrNotFound)

	other := newPurpose(kindLegal, tg)
	other.Version = 1
	_, err = s.PutPurpose(ctx, other)
	must(t, err, "PutPurpose other")
	all, err := s.ListPurposes(ctx)
	must(t, err, "ListPurposes")
	versions := map[string]int{}
	for i, q := range all {
		if i > 0 && all[i-1].ID >= q.ID {
			t.Errorf("ListPurposes: %q after %q, want sorted by ID and one per ID", q.ID, all[i-1].ID)
		}
		versions[q.ID] = q.Version
	}
	if versions[p.ID] != 2 || versions[other.ID] != 1 {
		t.Errorf("ListPurposes: got versions %d and %d, want 2 and 1", versions[p.ID], versions[other.ID])
	}

	bad := p
	bad.Version, bad.DPV = 3, "nope"
	wantErr(t, "PutPurpose(invalid)", func() error { _, err := s.PutPurpose(ctx, bad); return err }(), consent.ErrInvalid)
	zero := newPurpose(kindPublic, tg)
	wantErr(t, "PutPurpose(version 0)", func() error { _, err := s.PutPurpose(ctx, zero); return err }(), consent.ErrInvalid)
}

// testPurposeConcurrentVersions: writers racing for the same next
// version; exactly one wins.
func testPurposeConcurrentVersions(t *testing.T, s consent.Store) {
	ctx := context.Background()
	p := newPurpose(kindConsent, tag())
	p.Version = 1
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = s.PutPurpose(ctx, p) })
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, consent.ErrConflict):
			t.Errorf("PutPurpose: got %v, want nil or ErrConflict", err)
		}
	}
	if wins != 1 {
		t.Errorf("PutPurpose of version 1 by %d writers: got %d successes, want 1", n, wins)
	}
}

func testAppendAndRead(t *testing.T, s consent.Store) {
	ctx := context.Background()
	tg := tag()
	k := key(tg, 1)
	events := []consent.Event{
		ev(k, "rec-"+tg, 1, consent.Given, base),
		ev(k, "rec-"+tg, 2, consent.Withdrawn, base.Add(time.Minute)),
		ev(k, "rec-"+tg, 3, consent.Given, base.Add(2*time.Minute)),
	}
	want := appendEvents(t, s, events...)

	got, err := s.Record(ctx, k)
	must(t, err, "Record")
	sameRecord(t, "Record", got, want)
	hist, err := s.History(ctx, k)
	must(t, err, "History")
	if len(hist) != len(events) {
		t.Fatalf("History: got %d events, want %d", len(hist), len(events))
	}
	projected, err := consent.Project(hist)
	must(t, err, "Project(History)")
	sameRecord(t, "Project(History)", projected, got)
	for i, e := range hist {
		w := stored(events[i])
		w.Pos = e.Pos
		if !reflect.DeepEqual(e, w) {
			t.Errorf("History[%d]: got %+v, want %+v", i, e, w)
		}
		if i > 0 && e.Pos <= hist[i-1].Pos {
			t.Errorf("History[%d]: position %d after %d, want increasing", i, e.Pos, hist[i-1].Pos)
		}
	}
	byID, err := s.RecordByID(ctx, "rec-"+tg)
	must(t, err, "RecordByID")
	sameRecord(t, "RecordByID", byID, want)
	_, err = s.RecordByID(ctx, "no-such-"+tg)
	wantErr(t, "RecordByID(unknown)", err, consent.ErrNotFound)
	_, err = s.Record(ctx, key(tg, 2))
	wantErr(t, "Record(unknown)", err, consent.ErrNotFound)
	if h, err := s.History(ctx, key(tg, 2)); err != nil || len(h) != 0 {
		t.Errorf("History(unknown): got %d events, %v; want none", len(h), err)
	}

	// A second record of the same citizen, for another purpose.
	k2 := k
	k2.Purpose = "other-" + tg
	second := appendEvents(t, s, ev(k2, "rec2-"+tg, 1, consent.Refused, base.Add(3*time.Minute)))
	recs, err := s.SubjectRecords(ctx, k.Subject)
	must(t, err, "SubjectRecords")
	if len(recs) != 2 || recs[0].ID != second.ID || recs[1].ID != want.ID {
		t.Errorf("SubjectRecords: got %d records, want the two, by purpose (other-…, purpose-…)", len(recs))
	}
	all, err := s.SubjectHistory(ctx, k.Subject)
	must(t, err, "SubjectHistory")
	var refs []string
	for _, e := range all {
		refs = append(refs, e.Ref().String())
	}
	if wantRefs := []string{"rec-" + tg + "#1", "rec-" + tg + "#2", "rec-" + tg + "#3", "rec2-" + tg + "#1"}; !slices.Equal(refs, wantRefs) {
		t.Errorf("SubjectHistory: got %q, want %q", refs, wantRefs)
	}
}

// testEventRoundTrip: every field of an event, odd values included,
// comes back as written.
func testEventRoundTrip(t *testing.T, s consent.Store) {
	ctx := context.Background()
	tg := tag()
	k := consent.Key{Subject: "Ñandú-" + tg + "-\u00e9€😀\"'\\", Controller: "https://agency.example/" + tg, Purpose: "p-" + tg}
	e := consent.Event{
		RecordID: "r-" + tg, Seq: 1, Type: consent.Objected, Key: k,
		PurposeVersion: 7, NoticeVersion: "2026-01/ñ", LegalBasis: consent.LegitimateInterest,
		Categories: []string{"dpv-pd:Contact", "b.c_d", "A1"}, Method: "kiosk",
		Actor: audit.Actor{Kind: audit.ActorDPO, ID: "staff-7"}, Time: base,
	}
	appendEvents(t, s, e)
	hist, err := s.History(ctx, k)
	must(t, err, "History")
	if len(hist) != 1 {
		t.Fatalf("History: got %d events, want 1", len(hist))
	}
	want := stored(e)
	want.Pos = hist[0].Pos
	if !reflect.DeepEqual(hist[0], want) {
		t.Errorf("History: got %+v, want %+v", hist[0], want)
	}
	if hist[0].Time.Location() != time.UTC {
		t.Errorf("event time zone: got %v, want UTC", hist[0].Time.Location())
	}
}

func testAppendConflict(t *testing.T, s consent.Store) {
	ctx := context.Background()
	tg := tag()
	k := key(tg, 1)
	id := "rec-" + tg
	r1 := appendEvents(t, s, ev(k, id, 1, consent.Given, base))
	r2 := consent.Transition{Prev: r1, Event: ev(k, id, 2, consent.Withdrawn, base.Add(time.Second))}.Next()
	_, err := s.Append(ctx, nil, consent.Transition{Prev: r1, Event: ev(k, id, 2, consent.Withdrawn, base.Add(time.Second))})
	must(t, err, "Append #2")
	head, err := s.Head(ctx)
	must(t, err, "Head")

	// A writer that read r1 appends after r2 landed: refused.
	_, err = s.Append(ctx, nil, consent.Transition{Prev: r1, Event: ev(k, id, 2, consent.Given, base.Add(2*time.Second))})
	wantErr(t, "Append on a stale record", err, consent.ErrConflict)
	// A second writer creating the same record.
	_, err = s.Append(ctx, nil, consent.Transition{Event: ev(k, "other-"+tg, 1, consent.Given, base)})
	wantErr(t, "Append of an existing record as new", err, consent.ErrConflict)

	got, err := s.Record(ctx, k)
	must(t, err, "Record")
	sameRecord(t, "Record after conflicts", got, r2)
	if h, _ := s.History(ctx, k); len(h) != 2 {
		t.Errorf("History after conflicts: got %d events, want 2", len(h))
	}
	if now, _ := s.Head(ctx); now != head {
		t.Errorf("Head after conflicts: got %d, want %d", now, head)
	}
}

func testAppendInvalid(t *testing.T, s consent.Store) {
	ctx := context.Background()
	tg := tag()
	k := key(tg, 1)
	r1 := appendEvents(t, s, ev(k, "rec-"+tg, 1, consent.Given, base))
	noTime := ev(key(tg, 3), "r3-"+tg, 1, consent.Given, time.Time{})
	noTime.Expires = time.Time{}
	for _, tc := range []struct {
		name string
		ts   []consent.Transition
	}{
		{"nothing", nil},
		{"gap in the sequence", []consent.Transition{{Prev: r1, Event: ev(k, "rec-"+tg, 3, consent.Withdrawn, base)}}},
		{"another record's ID", []consent.Transition{{Prev: r1, Event: ev(k, "other", 2, consent.Withdrawn, base)}}},
		{"unknown type", []consent.Transition{{Event: ev(key(tg, 2), "r2-"+tg, 1, "paused", base)}}},
		{"no time", []consent.Transition{{Event: noTime}}},
		{"one record twice", []consent.Transition{
			{Event: ev(key(tg, 4), "r4-"+tg, 1, consent.Given, base)},
			{Event: ev(key(tg, 4), "r4b-"+tg, 1, consent.Given, base)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Append(ctx, nil, tc.ts...)
			wantErr(t, "Append", err, consent.ErrInvalid)
		})
	}
	for i := 2; i <= 4; i++ {
		if _, err := s.Record(ctx, key(tg, i)); !errors.Is(err, consent.ErrNotFound) {
			t.Errorf("Record %d after invalid appends: got %v, want ErrNotFound", i, err)
		}
	}
}

func testAppendWithinFails(t *testing.T, s consent.Store) {
	ctx := context.Background()
	tg := tag()
	k := key(tg, 1)
	r1 := appendEvents(t, s, ev(k, "rec-"+tg, 1, consent.Given, base))
	head, err := s.Head(ctx)
	must(t, err, "Head")
	boom := errors.New("audit entry refused")
	called := 0
	_, err = s.Append(ctx, func(tx *sql.Tx) error {
		called++
		if tx == nil {
			return errors.New("no transaction")
		}
		return boom
	}, consent.Transition{Prev: r1, Event: ev(k, "rec-"+tg, 2, consent.Withdrawn, base.Add(time.Second))},
		consent.Transition{Event: ev(key(tg, 2), "r2-"+tg, 1, consent.Given, base)})
	wantErr(t, "Append with a failing within", err, boom)
	if called != 1 {
		t.Errorf("within: called %d times, want once", called)
	}
	got, err := s.Record(ctx, k)
	must(t, err, "Record")
	sameRecord(t, "Record after the failed append", got, r1)
	if _, err := s.Record(ctx, key(tg, 2)); !errors.Is(err, consent.ErrNotFound) {
		t.Errorf("new record of the failed append: got %v, want ErrNotFound", err)
	}
	if h, _ := s.History(ctx, k); len(h) != 1 {
		t.Errorf("History: got %d events, want 1", len(h))
	}
	if now, _ := s.Head(ctx); now != head {
		t.Errorf("Head: got %d, want %d", now, head)
	}
}

// testAppendBatch: several records in one Append get consecutive
// positions in the order given; one stale record fails the whole batch.
func testAppendBatch(t *testing.T, s consent.Store) {
	ctx := context.Background()
	tg := tag()
	var ts []consent.Transition
	for i := 5; i >= 1; i-- { // not in key order
		ts = append(ts, consent.Transition{Event: ev(key(tg, i), fmt.Sprintf("r%d-%s", i, tg), 1, consent.Given, base)})
	}
	before, err := s.Head(ctx)
	must(t, err, "Head")
	last, err := s.Append(ctx, nil, ts...)
	must(t, err, "Append batch")
	changes, err := s.Changes(ctx, last-int64(len(ts)), last)
	must(t, err, "Changes")
	if len(changes) != len(ts) || last-int64(len(ts)) < before {
		t.Fatalf("Changes of the batch: got %d, want %d ending at %d", len(changes), len(ts), last)
	}
	for i, c := range changes {
		if c.Key != ts[i].Event.Key || c.Pos != last-int64(len(ts))+1+int64(i) {
			t.Errorf("change %d: got %+v, want position %d of %v", i, c, last-int64(len(ts))+1+int64(i), ts[i].Event.Key)
		}
	}

	// A batch holding one stale transition stores nothing.
	var again []consent.Transition
	for i, t0 := range ts {
		prev := t0.Next()
		if i == 2 {
			prev.Seq = 0 // as if read before it existed
		}
		e := ev(prev.Key, prev.ID, prev.Seq+1, consent.Withdrawn, base.Add(time.Minute))
		if i == 2 {
			e.RecordID = "stale-" + tg
		}
		again = append(again, consent.Transition{Prev: prev, Event: e})
	}
	_, err = s.Append(ctx, nil, again...)
	wantErr(t, "Append batch with a stale record", err, consent.ErrConflict)
	for i := 1; i <= 5; i++ {
		r, err := s.Record(ctx, key(tg, i))
		must(t, err, "Record")
		if r.State != consent.StateGiven || r.Seq != 1 {
			t.Errorf("record %d: got %s #%d, want given #1", i, r.State, r.Seq)
		}
	}
}

// testConcurrentAppends: writers that read the same record race to
// append; exactly one wins, the others get ErrConflict.
func testConcurrentAppends(t *testing.T, s consent.Store) {
	ctx := context.Background()
	tg := tag()
	k := key(tg, 1)
	r1 := appendEvents(t, s, ev(k, "rec-"+tg, 1, consent.Given, base))
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = s.Append(ctx, nil, consent.Transition{Prev: r1, Event: ev(k, "rec-"+tg, 2, consent.Withdrawn, base.Add(time.Duration(i)*time.Millisecond))})
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, consent.ErrConflict):
			t.Errorf("writer %d: got %v, want nil or ErrConflict", i, err)
		}
	}
	if wins != 1 {
		t.Errorf("%d writers on one record: got %d successes, want 1", n, wins)
	}
	if h, _ := s.History(ctx, k); len(h) != 2 {
		t.Errorf("History: got %d events, want 2", len(h))
	}
}

// testConcurrentCreate: writers racing to create the same record.
func testConcurrentCreate(t *testing.T, s consent.Store) {
	ctx := context.Background()
	tg := tag()
	k := key(tg, 1)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.Append(ctx, nil, consent.Transition{Event: ev(k, fmt.Sprintf("r%d-%s", i, tg), 1, consent.Given, base)})
		})
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
		} else if !errors.Is(err, consent.ErrConflict) {
			t.Errorf("Append: got %v, want nil or ErrConflict", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d writers creating one record: got %d successes, want 1", n, wins)
	}
	if h, _ := s.History(ctx, k); len(h) != 1 {
		t.Errorf("History: got %d events, want 1", len(h))
	}
}

// testPositions: events and purpose versions share one gap-free sequence
// of positions, and Changes lists each once, in order.
func testPositions(t *testing.T, s consent.Store) {
	ctx := context.Background()
	tg := tag()
	before, err := s.Head(ctx)
	must(t, err, "Head")
	k := key(tg, 1)
	r := appendEvents(t, s, ev(k, "rec-"+tg, 1, consent.Given, base))
	p := newPurpose(kindConsent, tg)
	p.Version = 1
	ppos, err := s.PutPurpose(ctx, p)
	must(t, err, "PutPurpose")
	_, err = s.Append(ctx, nil, consent.Transition{Prev: r, Event: ev(k, "rec-"+tg, 2, consent.Withdrawn, base)})
	must(t, err, "Append")
	head, err := s.Head(ctx)
	must(t, err, "Head")
	changes, err := s.Changes(ctx, before, head)
	must(t, err, "Changes")
	if int64(len(changes)) != head-before {
		t.Fatalf("Changes(%d, %d): got %d, want %d (no gap)", before, head, len(changes), head-before)
	}
	for i, c := range changes {
		if c.Pos != before+1+int64(i) {
			t.Errorf("change %d: got position %d, want %d", i, c.Pos, before+1+int64(i))
		}
	}
	// Other subtests may write meanwhile: find ours.
	var mine []consent.Change
	for _, c := range changes {
		if c.Key == k || c.Purpose == p.ID {
			mine = append(mine, c)
		}
	}
	if len(mine) != 3 || mine[0].Key != k || mine[1].Purpose != p.ID || mine[1].Pos != ppos || mine[2].Key != k {
		t.Errorf("Changes: got %+v, want the event, the purpose version (at %d), the event", mine, ppos)
	}
	if cs, err := s.Changes(ctx, head, head); err != nil || len(cs) != 0 {
		t.Errorf("Changes(head, head): got %d, %v; want none", len(cs), err)
	}
}

func testDueToExpire(t *testing.T, s consent.Store) {
	ctx := context.Background()
	tg := tag()
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(i int, typ consent.EventType, expires time.Time) consent.Record {
		e := ev(key(tg, i), fmt.Sprintf("r%d-%s", i, tg), 1, typ, old)
		e.Expires = expires
		return appendEvents(t, s, e)
	}
	due2 := mk(2, consent.Given, old.Add(2*time.Hour))
	due1 := mk(1, consent.Renewed, old.Add(time.Hour))
	mk(3, consent.Given, old.Add(48*time.Hour))    // later
	mk(4, consent.Given, time.Time{})              // no expiry
	mk(5, consent.Refused, time.Time{})            // not in force
	r6 := mk(6, consent.Given, old.Add(time.Hour)) // withdrawn below
	_, err := s.Append(ctx, nil, consent.Transition{Prev: r6, Event: ev(r6.Key, r6.ID, 2, consent.Withdrawn, old.Add(time.Minute))})
	must(t, err, "withdraw r6")

	got, err := s.DueToExpire(ctx, old.Add(3*time.Hour), 10)
	must(t, err, "DueToExpire")
	var ids []string
	for _, r := range got {
		ids = append(ids, r.ID)
	}
	if want := []string{due1.ID, due2.ID}; !slices.Equal(ids, want) {
		t.Errorf("DueToExpire: got %q, want %q (earliest first)", ids, want)
	}
	if got, err := s.DueToExpire(ctx, old.Add(3*time.Hour), 1); err != nil || len(got) != 1 || got[0].ID != due1.ID {
		t.Errorf("DueToExpire limit 1: got %d records, %v; want %s", len(got), err, due1.ID)
	}
	if got, err := s.DueToExpire(ctx, old.Add(time.Hour-time.Microsecond), 10); err != nil || len(got) != 0 {
		t.Errorf("DueToExpire before the first expiry: got %d records, %v; want none", len(got), err)
	}
	if got, err := s.DueToExpire(ctx, old.Add(time.Hour), 10); err != nil || len(got) != 1 {
		t.Errorf("DueToExpire at the first expiry: got %d records, %v; want 1", len(got), err)
	}
}

func testOnOldNotice(t *testing.T, s consent.Store) {
	ctx := context.Background()
	tg := tag()
	mk := func(i int, typ consent.EventType, notice string) consent.Record {
		e := ev(key(tg, i), fmt.Sprintf("r%d-%s", i, tg), 1, typ, base)
		e.NoticeVersion = notice
		return appendEvents(t, s, e)
	}
	a := mk(1, consent.Given, "n1")
	b := mk(2, consent.Renewed, "n0")
	mk(3, consent.Given, "n2")   // current
	mk(4, consent.Refused, "n1") // not in force
	other := ev(consent.Key{Subject: "s-" + tg, Controller: "agency-" + tg, Purpose: "unrelated-" + tg}, "o-"+tg, 1, consent.Given, base)
	appendEvents(t, s, other)

	got, err := s.OnOldNotice(ctx, "purpose-"+tg, "n2", 10)
	must(t, err, "OnOldNotice")
	var ids []string
	for _, r := range got {
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	want := []string{a.ID, b.ID}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("OnOldNotice: got %q, want %q", ids, want)
	}
	if got, err := s.OnOldNotice(ctx, "purpose-"+tg, "n2", 1); err != nil || len(got) != 1 {
		t.Errorf("OnOldNotice limit 1: got %d, %v; want 1", len(got), err)
	}
}

func testCounts(t *testing.T, s consent.Store) {
	ctx := context.Background()
	tg := tag()
	for i, typ := range []consent.EventType{consent.Given, consent.Given, consent.Refused, consent.Objected} {
		appendEvents(t, s, ev(key(tg, i), fmt.Sprintf("r%d-%s", i, tg), 1, typ, base))
	}
	k := key(tg, 9)
	k.Controller = "second-" + tg
	appendEvents(t, s, ev(k, "r9-"+tg, 1, consent.Given, base))
	cs, err := s.Counts(ctx)
	must(t, err, "Counts")
	var mine []consent.Count
	for _, c := range cs {
		if c.Purpose == "purpose-"+tg {
			mine = append(mine, c)
		}
	}
	want := []consent.Count{
		{Purpose: "purpose-" + tg, Controller: "agency-" + tg, State: consent.StateGiven, N: 2},
		{Purpose: "purpose-" + tg, Controller: "agency-" + tg, State: consent.StateObjected, N: 1},
		{Purpose: "purpose-" + tg, Controller: "agency-" + tg, State: consent.StateRefused, N: 1},
		{Purpose: "purpose-" + tg, Controller: "second-" + tg, State: consent.StateGiven, N: 1},
	}
	if !reflect.DeepEqual(mine, want) {
		t.Errorf("Counts: got %+v, want %+v", mine, want)
	}
}

// testEventCounts: events per UTC day, purpose, controller and type, in
// the range asked.
func testEventCounts(t *testing.T, s consent.Store) {
	ctx := context.Background()
	tg := tag()
	day := time.Date(2026, 5, 10, 23, 30, 0, 0, time.UTC)
	k1, k2 := key(tg, 1), key(tg, 2)
	appendEvents(t, s, ev(k1, "r1-"+tg, 1, consent.Given, day), ev(k1, "r1-"+tg, 2, consent.Withdrawn, day.Add(time.Hour)))
	appendEvents(t, s, ev(k2, "r2-"+tg, 1, consent.Given, day.Add(10*time.Minute)))
	cs, err := s.EventCounts(ctx, day.Add(-24*time.Hour), day.Add(48*time.Hour))
	must(t, err, "EventCounts")
	var mine []consent.EventCount
	for _, c := range cs {
		if c.Purpose == "purpose-"+tg {
			mine = append(mine, c)
		}
	}
	may10, may11 := time.Date(2026, 5, 10, 0, 0, 0, 0, time.UTC), time.Date(2026, 5, 11, 0, 0, 0, 0, time.UTC)
	want := []consent.EventCount{
		{Day: may10, Purpose: "purpose-" + tg, Controller: "agency-" + tg, Type: consent.Given, N: 2},
		{Day: may11, Purpose: "purpose-" + tg, Controller: "agency-" + tg, Type: consent.Withdrawn, N: 1},
	}
	if !reflect.DeepEqual(mine, want) {
		t.Errorf("EventCounts: got %+v, want %+v", mine, want)
	}
	cs, err = s.EventCounts(ctx, may11, may11.Add(24*time.Hour))
	must(t, err, "EventCounts of May 11")
	for _, c := range cs {
		if c.Purpose == "purpose-"+tg && c.Type != consent.Withdrawn {
			t.Errorf("EventCounts of May 11: %+v outside the range", c)
		}
	}
}

func testReplicas(t *testing.T, s consent.Store) {
	ctx := context.Background()
	id := "replica-" + tag()
	find := func() (consent.Replica, bool) {
		rs, err := s.ListReplicas(ctx)
		must(t, err, "ListReplicas")
		for _, r := range rs {
			if r.ID == id {
				return r, true
			}
		}
		return consent.Replica{}, false
	}
	if ok, err := s.Heartbeat(ctx, id, 1); err != nil || ok {
		t.Errorf("Heartbeat before Register: got %v, %v; want false", ok, err)
	}
	must(t, s.Register(ctx, id, 5), "Register")
	r, ok := find()
	if !ok || r.Seen != 5 || r.Heartbeat.IsZero() || r.Age < 0 || r.Age > time.Minute {
		t.Fatalf("ListReplicas after Register: got %+v (found %v), want seen 5, a fresh heartbeat", r, ok)
	}
	time.Sleep(3 * time.Millisecond) // the SQLite clock has millisecond steps
	ok, err := s.Heartbeat(ctx, id, 9)
	if err != nil || !ok {
		t.Fatalf("Heartbeat: got %v, %v; want true", ok, err)
	}
	r2, _ := find()
	if r2.Seen != 9 || r2.Heartbeat.Before(r.Heartbeat) {
		t.Errorf("after Heartbeat: got seen %d at %v, want 9 at or after %v", r2.Seen, r2.Heartbeat, r.Heartbeat)
	}
	if fenced, err := s.Fence(ctx, id, r2.Heartbeat.Add(-time.Millisecond), 0); err != nil || fenced {
		t.Errorf("Fence with another heartbeat: got %v, %v; want false", fenced, err)
	}
	if fenced, err := s.Fence(ctx, id, r2.Heartbeat, time.Hour); err != nil || fenced {
		t.Errorf("Fence of a fresh heartbeat: got %v, %v; want false", fenced, err)
	}
	if _, ok := find(); !ok {
		t.Fatalf("replica gone after refused fences")
	}
	if fenced, err := s.Fence(ctx, id, r2.Heartbeat, 0); err != nil || !fenced {
		t.Errorf("Fence: got %v, %v; want true", fenced, err)
	}
	if ok, err := s.Heartbeat(ctx, id, 10); err != nil || ok {
		t.Errorf("Heartbeat after Fence: got %v, %v; want false", ok, err)
	}
	must(t, s.Register(ctx, id, 10), "Register again")
	must(t, s.Register(ctx, id, 11), "Register over a live row")
	if r, ok := find(); !ok || r.Seen != 11 {
		t.Errorf("after Register twice: got %+v (found %v), want seen 11", r, ok)
	}
	must(t, s.Deregister(ctx, id), "Deregister")
	if _, ok := find(); ok {
		t.Errorf("replica listed after Deregister")
	}
	if ok, err := s.Heartbeat(ctx, id, 12); err != nil || ok {
		t.Errorf("Heartbeat after Deregister: got %v, %v; want false", ok, err)
	}
}

// testScanRecords: pages of records in key order — subject, then purpose,
// then controller, as bytes — each record in its current state, every
// record once.
func testScanRecords(t *testing.T, s consent.Store) {
	ctx := context.Background()
	tg := tag()
	var want []consent.Record
	add := func(k consent.Key, id string, events ...consent.EventType) {
		var es []consent.Event
		for i, typ := range events {
			es = append(es, ev(k, id, int64(i+1), typ, base.Add(time.Duration(i)*time.Minute)))
		}
		want = append(want, appendEvents(t, s, es...))
	}
	// Written out of order; "-10" sorts between "-1" and "-2"; a second
	// purpose that sorts first although its controller sorts last.
	add(key(tg, 2), "r2-"+tg, consent.Given)
	add(key(tg, 10), "r10-"+tg, consent.Refused)
	k := key(tg, 1)
	add(k, "r1-"+tg, consent.Given, consent.Withdrawn)
	k.Controller = "second-" + tg
	add(k, "r1b-"+tg, consent.Given)
	k.Purpose, k.Controller = "a-purpose-"+tg, "zeta-"+tg
	add(k, "r1c-"+tg, consent.Objected)
	keyCmp := func(a, b consent.Key) int {
		return cmp.Or(strings.Compare(a.Subject, b.Subject), strings.Compare(a.Purpose, b.Purpose), strings.Compare(a.Controller, b.Controller))
	}
	slices.SortFunc(want, func(a, b consent.Record) int { return keyCmp(a.Key, b.Key) })

	for _, limit := range []int{1, 2, 3, 100} {
		prefix := "subject-" + tg + "-"
		after := consent.Key{Subject: prefix} // before every key of this test
		var got []consent.Record
	pages:
		for {
			page, err := s.ScanRecords(ctx, after, limit)
			must(t, err, "ScanRecords")
			if len(page) > limit {
				t.Fatalf("ScanRecords(limit %d): got %d records", limit, len(page))
			}
			for _, r := range page {
				if keyCmp(r.Key, after) <= 0 {
					t.Fatalf("ScanRecords(limit %d) after %v: got %v, not after it", limit, after, r.Key)
				}
				if !strings.HasPrefix(r.Key.Subject, prefix) {
					break pages
				}
				got = append(got, r)
				after = r.Key
			}
			if len(page) < limit {
				break
			}
		}
		if len(got) != len(want) {
			t.Fatalf("ScanRecords(limit %d): got %d records of this test, want %d", limit, len(got), len(want))
		}
		for i := range want {
			sameRecord(t, fmt.Sprintf("ScanRecords(limit %d) record %d", limit, i), got[i], want[i])
		}
	}
	if rs, err := s.ScanRecords(ctx, consent.Key{}, 1); err != nil || len(rs) != 1 {
		t.Errorf("ScanRecords from the zero key: got %d records, %v; want 1", len(rs), err)
	}
	_, err := s.ScanRecords(ctx, consent.Key{}, 0)
	wantErr(t, "ScanRecords(limit 0)", err, consent.ErrInvalid)
}
