package consenttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/consent"
)

func testNewConfig(t *testing.T, env Env) {
	_, err := consent.New(context.Background(), consent.Config{Lease: time.Second, SyncInterval: time.Second})
	if !errors.Is(err, consent.ErrInvalid) {
		t.Fatalf("New(empty config): got %v, want ErrInvalid", err)
	}
	for _, w := range []string{"no store", "no audit log", "no pseudonym", "sync interval"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("New(empty config): got %q, want it to mention %q", err, w)
		}
	}
}

// testRules: which changes apply to which purposes and states.
func testRules(t *testing.T, env Env) {
	f := newFixture(t, env)
	ctx := context.Background()
	for i, tc := range []struct {
		name  string
		kind  string
		setup []string
		op    string
		want  error
		state consent.State // after op, when it succeeds
	}{
		{"give", kindConsent, nil, "give", nil, consent.StateGiven},
		{"give again", kindConsent, []string{"give"}, "give", nil, consent.StateGiven},
		{"give after withdrawal", kindConsent, []string{"give", "withdraw"}, "give", nil, consent.StateGiven},
		{"give on public task", kindPublic, nil, "give", consent.ErrNotConsentBased, ""},
		{"give on legal obligation", kindLegal, nil, "give", consent.ErrNotConsentBased, ""},
		{"refuse", kindConsent, nil, "refuse", nil, consent.StateRefused},
		{"refuse again", kindConsent, []string{"refuse"}, "refuse", nil, consent.StateRefused},
		{"refuse a consent in force", kindConsent, []string{"give"}, "refuse", consent.ErrTransition, ""},
		{"refuse after withdrawal", kindConsent, []string{"give", "withdraw"}, "refuse", nil, consent.StateRefused},
		{"refuse on public task", kindObjectable, nil, "refuse", consent.ErrNotConsentBased, ""},
		{"withdraw", kindConsent, []string{"give"}, "withdraw", nil, consent.StateWithdrawn},
		{"withdraw a renewed consent", kindConsent, []string{"give", "renew"}, "withdraw", nil, consent.StateWithdrawn},
		{"withdraw without consent", kindConsent, nil, "withdraw", consent.ErrTransition, ""},
		{"withdraw twice", kindConsent, []string{"give", "withdraw"}, "withdraw", consent.ErrTransition, ""},
		{"withdraw a refusal", kindConsent, []string{"refuse"}, "withdraw", consent.ErrTransition, ""},
		{"withdraw on public task", kindPublic, nil, "withdraw", consent.ErrNotConsentBased, ""},
		{"renew", kindConsent, []string{"give"}, "renew", nil, consent.StateRenewed},
		{"renew without consent", kindConsent, nil, "renew", consent.ErrTransition, ""},
		{"renew a withdrawn consent", kindConsent, []string{"give", "withdraw"}, "renew", consent.ErrTransition, ""},
		{"renew on legal obligation", kindLegal, nil, "renew", consent.ErrNotConsentBased, ""},
		{"object to profiling on public task", kindObjectable, nil, "object", nil, consent.StateObjected},
		{"object twice", kindObjectable, []string{"object"}, "object", consent.ErrTransition, ""},
		{"object to a consent purpose", kindConsent, []string{"give"}, "object", consent.ErrNotObjectable, ""},
		{"object without profiling", kindPublic, nil, "object", consent.ErrNotObjectable, ""},
		{"object to a legal obligation", kindLegal, nil, "object", consent.ErrNotObjectable, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			subject := fmt.Sprintf("citizen-%s-%d", f.tag, i)
			r := f.req(subject, tc.kind)
			for _, op := range tc.setup {
				_, err := f.op(ctx, f.svc, op, r)
				must(t, err, "setup "+op)
			}
			rec, err := f.op(ctx, f.svc, tc.op, r)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("%s: got error %v, want %v", tc.op, err, tc.want)
			}
			hist, herr := f.svc.History(ctx, subject)
			must(t, herr, "History")
			if err != nil {
				if len(hist) != len(tc.setup) {
					t.Errorf("History after a refused %s: got %d events, want %d", tc.op, len(hist), len(tc.setup))
				}
				return
			}
			if rec.State != tc.state || rec.Seq != int64(len(tc.setup)+1) {
				t.Errorf("%s: got %s #%d, want %s #%d", tc.op, rec.State, rec.Seq, tc.state, len(tc.setup)+1)
			}
			stored, err := f.svc.Record(ctx, subject, r.Purpose)
			must(t, err, "Record")
			if stored.State != rec.State || stored.Seq != rec.Seq || stored.ID != rec.ID {
				t.Errorf("stored record: got %s #%d, want %s #%d as returned", stored.State, stored.Seq, rec.State, rec.Seq)
			}
			if projected, err := consent.Project(hist); err != nil || projected.State != tc.state {
				t.Errorf("Project(History): got %s, %v; want %s", projected.State, err, tc.state)
			}
		})
	}
	t.Run("unknown purpose", func(t *testing.T) {
		_, err := f.svc.Give(ctx, consent.Request{Subject: "c", Purpose: "no-such-" + f.tag, Method: consent.MethodWeb})
		if !errors.Is(err, consent.ErrNotFound) {
			t.Errorf("Give: got %v, want ErrNotFound", err)
		}
	})
	for _, tc := range []struct {
		name string
		r    consent.Request
	}{
		{"no subject", consent.Request{Purpose: f.purposes[kindConsent].ID, Method: consent.MethodWeb}},
		{"no method", consent.Request{Subject: "c", Purpose: f.purposes[kindConsent].ID}},
		{"bad purpose ID", consent.Request{Subject: "c", Purpose: "Tax Reminders", Method: consent.MethodWeb}},
		{"actor without ID", consent.Request{Subject: "c", Purpose: f.purposes[kindConsent].ID, Method: consent.MethodWeb,
			Actor: audit.Actor{Kind: audit.ActorDPO}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.svc.Give(ctx, tc.r); !errors.Is(err, consent.ErrInvalid) {
				t.Errorf("Give: got %v, want ErrInvalid", err)
			}
		})
	}
}

// testDecide: the decision rules, one citizen per case.
func testDecide(t *testing.T, env Env) {
	f := newFixture(t, env)
	ctx := context.Background()
	for i, tc := range []struct {
		name    string
		kind    string
		setup   []string
		query   func(q *consent.Query)
		allow   bool
		reason  consent.Reason
		basis   consent.LegalBasis
		record  int64 // the Seq of the Record it rests on, 0 for none
		noQuery bool
	}{
		{"consent given", kindConsent, []string{"give"}, nil, true, consent.ReasonConsent, consent.Consent, 1, false},
		{"consent renewed", kindConsent, []string{"give", "renew"}, nil, true, consent.ReasonConsent, consent.Consent, 2, false},
		{"given again after withdrawal", kindConsent, []string{"give", "withdraw", "give"}, nil, true, consent.ReasonConsent, consent.Consent, 3, false},
		{"never asked", kindConsent, nil, nil, false, consent.ReasonNoConsent, consent.Consent, 0, false},
		{"refused", kindConsent, []string{"refuse"}, nil, false, consent.ReasonRefused, consent.Consent, 1, false},
		{"withdrawn", kindConsent, []string{"give", "withdraw"}, nil, false, consent.ReasonWithdrawn, consent.Consent, 2, false},
		{"all categories of the purpose", kindConsent, []string{"give"},
			func(q *consent.Query) { q.Categories = []string{"address", "identity", "contact", "identity"} }, true, consent.ReasonConsent, consent.Consent, 1, false},
		{"a category outside the purpose", kindConsent, []string{"give"},
			func(q *consent.Query) { q.Categories = []string{"identity", "health"} }, false, consent.ReasonCategories, consent.Consent, 0, false},
		{"another controller", kindConsent, []string{"give"},
			func(q *consent.Query) { q.Controller = "other-agency" }, false, consent.ReasonController, consent.Consent, 0, false},
		{"unknown purpose", kindConsent, []string{"give"},
			func(q *consent.Query) { q.Purpose = "no-such-purpose" }, false, consent.ReasonUnknownPurpose, "", 0, false},
		{"public task", kindPublic, nil, nil, true, consent.ReasonLegalBasis, consent.PublicTask, 0, false},
		{"legal obligation", kindLegal, nil, nil, true, consent.ReasonLegalBasis, consent.LegalObligation, 0, false},
		{"profiling, no objection", kindObjectable, nil, nil, true, consent.ReasonLegalBasis, consent.PublicTask, 0, false},
		{"profiling, objected", kindObjectable, []string{"object"}, nil, false, consent.ReasonObjected, consent.PublicTask, 1, false},
		{"legal basis, category outside", kindLegal, nil,
			func(q *consent.Query) { q.Categories = []string{"health"} }, false, consent.ReasonCategories, consent.LegalObligation, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			subject := fmt.Sprintf("citizen-%s-%d", f.tag, i)
			for _, op := range tc.setup {
				_, err := f.op(ctx, f.svc, op, f.req(subject, tc.kind))
				must(t, err, "setup "+op)
			}
			q := f.query(subject, tc.kind)
			if tc.query != nil {
				tc.query(&q)
			}
			// Twice: from the database, then from the cache.
			for round := range 2 {
				d, err := f.svc.Decide(ctx, q)
				must(t, err, "Decide")
				if d.Allow != tc.allow || d.Reason != tc.reason || d.Basis != tc.basis || d.Record.Seq != tc.record {
					t.Errorf("Decide (round %d): got allow %v, reason %s, basis %s, record %v; want %v, %s, %s, #%d",
						round, d.Allow, d.Reason, d.Basis, d.Record, tc.allow, tc.reason, tc.basis, tc.record)
				}
				if u, err := f.svc.DecideUnaudited(ctx, q); err != nil || u.Allow != d.Allow || u.Reason != d.Reason || u.Record != d.Record {
					t.Errorf("DecideUnaudited: got %+v, %v; want as Decide %+v", u, err, d)
				}
			}
		})
	}

	t.Run("expired before the scheduler runs", func(t *testing.T) {
		f := newFixture(t, env)
		subject := "citizen-" + f.tag + "-exp"
		_, err := f.svc.Give(ctx, f.req(subject, kindConsent))
		must(t, err, "Give")
		f.clock.Add(time.Hour + time.Second)
		d, err := f.svc.Decide(ctx, f.query(subject, kindConsent))
		must(t, err, "Decide")
		if d.Allow || d.Reason != consent.ReasonExpired || d.Record.Seq != 1 {
			t.Errorf("Decide after the retention: got %v %s %v, want a denial for expiry resting on #1", d.Allow, d.Reason, d.Record)
		}
	})

	for _, tc := range []struct {
		name string
		q    func(q *consent.Query)
	}{
		{"no categories", func(q *consent.Query) { q.Categories = nil }},
		{"bad category", func(q *consent.Query) { q.Categories = []string{"a b"} }},
		{"no subject", func(q *consent.Query) { q.Subject = "" }},
		{"no controller", func(q *consent.Query) { q.Controller = "" }},
		{"bad purpose ID", func(q *consent.Query) { q.Purpose = strings.Repeat("p", 65) }},
	} {
		t.Run("invalid query: "+tc.name, func(t *testing.T) {
			q := f.query("c", kindConsent)
			tc.q(&q)
			if _, err := f.svc.Decide(ctx, q); !errors.Is(err, consent.ErrInvalid) {
				t.Errorf("Decide: got %v, want ErrInvalid", err)
			}
		})
	}
}

func testExpire(t *testing.T, env Env) {
	f := newFixture(t, env)
	ctx := context.Background()
	var subjects []string
	for i := range 5 {
		s := fmt.Sprintf("citizen-%s-%d", f.tag, i)
		subjects = append(subjects, s)
		_, err := f.svc.Give(ctx, f.req(s, kindConsent))
		must(t, err, "Give")
	}
	_, err := f.svc.Withdraw(ctx, f.req(subjects[4], kindConsent))
	must(t, err, "Withdraw")
	if n, err := f.svc.Expire(ctx, f.clock.Now()); err != nil || n != 0 {
		t.Errorf("Expire before the retention: got %d, %v; want 0", n, err)
	}
	f.clock.Add(30 * time.Minute)
	_, err = f.svc.Renew(ctx, f.req(subjects[3], kindConsent)) // expires 30 minutes later
	must(t, err, "Renew")
	f.clock.Add(31 * time.Minute)
	n, err := f.svc.Expire(ctx, f.clock.Now())
	must(t, err, "Expire")
	if n != 3 {
		t.Errorf("Expire: got %d, want 3 (the renewed and the withdrawn consents are not due)", n)
	}
	for i, s := range subjects {
		d, err := f.svc.Decide(ctx, f.query(s, kindConsent))
		must(t, err, "Decide")
		want := map[int]consent.Reason{3: consent.ReasonConsent, 4: consent.ReasonWithdrawn}[i]
		if want == "" {
			want = consent.ReasonExpired
		}
		if d.Reason != want {
			t.Errorf("Decide for citizen %d: got %s, want %s", i, d.Reason, want)
		}
	}
	hist, err := f.svc.History(ctx, subjects[0])
	must(t, err, "History")
	last := hist[len(hist)-1]
	if last.Type != consent.Expired || last.Actor != (audit.Actor{Kind: audit.ActorSystem, ID: consent.SchedulerActor}) ||
		last.Method != consent.MethodSystem || last.NoticeVersion != "n1" || last.PurposeVersion != 1 {
		t.Errorf("expiry event: got %+v, want expired by the scheduler under purpose version 1, notice n1", last)
	}
	if n, err := f.svc.Expire(ctx, f.clock.Now()); err != nil || n != 0 {
		t.Errorf("Expire again: got %d, %v; want 0", n, err)
	}
	if got := f.effects.states(); !slices.Equal(got, []consent.State{consent.StateWithdrawn, consent.StateExpired, consent.StateExpired, consent.StateExpired}) {
		t.Errorf("Effects: got %q, want withdrawn then three expired", got)
	}
	// An expired consent can be renewed.
	r, err := f.svc.Renew(ctx, f.req(subjects[0], kindConsent))
	if err != nil || r.State != consent.StateRenewed {
		t.Fatalf("Renew after expiry: got %s, %v; want renewed", r.State, err)
	}
	if d, err := f.svc.Decide(ctx, f.query(subjects[0], kindConsent)); err != nil || !d.Allow {
		t.Errorf("Decide after renewal: got %+v, %v; want allowed", d, err)
	}
}

func testNoticeChanged(t *testing.T, env Env) {
	f := newFixture(t, env)
	ctx := context.Background()
	var subjects []string
	for i := range 4 {
		s := fmt.Sprintf("citizen-%s-%d", f.tag, i)
		subjects = append(subjects, s)
		_, err := f.svc.Give(ctx, f.req(s, kindConsent))
		must(t, err, "Give")
	}
	_, err := f.svc.Refuse(ctx, f.req("citizen-"+f.tag+"-refused", kindConsent))
	must(t, err, "Refuse")
	p := f.purposes[kindConsent]
	p.NoticeVersion = "n2"
	p2, err := f.svc.PutPurpose(ctx, p)
	must(t, err, "PutPurpose")
	if p2.Version != 2 || p2.NoticeVersion != "n2" {
		t.Fatalf("PutPurpose: got version %d notice %s, want 2, n2", p2.Version, p2.NoticeVersion)
	}
	// Decisions deny at once, before NoticeChanged marks anything.
	d, err := f.svc.Decide(ctx, f.query(subjects[0], kindConsent))
	must(t, err, "Decide")
	if d.Allow || d.Reason != consent.ReasonRenewal || d.PurposeVersion != 2 {
		t.Errorf("Decide under the old notice: got %v %s v%d, want denied, renewal_required, v2", d.Allow, d.Reason, d.PurposeVersion)
	}
	n, err := f.svc.NoticeChanged(ctx, p.ID)
	must(t, err, "NoticeChanged")
	if n != 4 {
		t.Errorf("NoticeChanged: got %d, want 4", n)
	}
	r, err := f.svc.Record(ctx, subjects[1], p.ID)
	must(t, err, "Record")
	if r.State != consent.StateRenewalRequired || r.NoticeVersion != "n1" {
		t.Errorf("record: got %s under %s, want renewal_required under n1", r.State, r.NoticeVersion)
	}
	r, err = f.svc.Renew(ctx, f.req(subjects[1], kindConsent))
	must(t, err, "Renew")
	if r.NoticeVersion != "n2" || r.PurposeVersion != 2 {
		t.Errorf("Renew: got notice %s, version %d, want n2, 2", r.NoticeVersion, r.PurposeVersion)
	}
	if d, _ := f.svc.Decide(ctx, f.query(subjects[1], kindConsent)); !d.Allow {
		t.Errorf("Decide after renewal: got %s, want allowed", d.Reason)
	}
	if d, _ := f.svc.Decide(ctx, f.query(subjects[2], kindConsent)); d.Allow || d.Reason != consent.ReasonRenewal {
		t.Errorf("Decide awaiting renewal: got %v %s, want denied, renewal_required", d.Allow, d.Reason)
	}
	if n, err := f.svc.NoticeChanged(ctx, p.ID); err != nil || n != 0 {
		t.Errorf("NoticeChanged again: got %d, %v; want 0", n, err)
	}
	if _, err := f.svc.NoticeChanged(ctx, "no-such-"+f.tag); !errors.Is(err, consent.ErrNotFound) {
		t.Errorf("NoticeChanged(unknown): got %v, want ErrNotFound", err)
	}
}

func testPutPurposeIdempotent(t *testing.T, env Env) {
	f := newFixture(t, env)
	ctx := context.Background()
	p := f.purposes[kindConsent]
	p.Categories = slices.Clone(p.Categories)
	slices.Reverse(p.Categories)
	again, err := f.svc.PutPurpose(ctx, p)
	must(t, err, "PutPurpose unchanged")
	if again.Version != 1 {
		t.Errorf("PutPurpose of the same purpose: got version %d, want 1", again.Version)
	}
	p.Name.EN = "Renamed"
	changed, err := f.svc.PutPurpose(ctx, p)
	must(t, err, "PutPurpose changed")
	if changed.Version != 2 || changed.Name.EN != "Renamed" {
		t.Errorf("PutPurpose changed: got version %d %q, want 2 Renamed", changed.Version, changed.Name.EN)
	}
	got, err := f.svc.Purpose(ctx, p.ID)
	if err != nil || got.Version != 2 {
		t.Errorf("Purpose: got version %d, %v; want 2", got.Version, err)
	}
	bad := p
	bad.LegalBasis = "whim"
	if _, err := f.svc.PutPurpose(ctx, bad); !errors.Is(err, consent.ErrInvalid) {
		t.Errorf("PutPurpose(invalid): got %v, want ErrInvalid", err)
	}
	// Each stored version, and only those, has its audit entry.
	versions := map[string]int{}
	for _, e := range entries(t, env.Log) {
		if e.Action == consent.ActionPurpose && strings.HasPrefix(e.ConsentRecord, p.ID+"@") {
			versions[e.ConsentRecord]++
			if e.Actor != (audit.Actor{Kind: audit.ActorSystem, ID: consent.RegistryActor}) || e.Purpose != p.DPV {
				t.Errorf("purpose entry %+v: want the registry as actor and the DPV code", e)
			}
		}
	}
	if len(versions) != 2 || versions[p.ID+"@1"] != 1 || versions[p.ID+"@2"] != 1 {
		t.Errorf("purpose entries: %v, want one for version 1 and one for 2", versions)
	}
}

// testAuditEntries: each change and each decision is recorded with the
// fields the audit log's readers rely on.
func testAuditEntries(t *testing.T, env Env) {
	f := newFixture(t, env)
	ctx := audit.WithRequestID(context.Background(), "req-42")
	subject := "citizen-" + f.tag
	pc, po := f.purposes[kindConsent], f.purposes[kindObjectable]
	citizen := audit.Actor{Kind: audit.ActorCitizen, ID: pseudonym(subject)}
	desk := audit.Actor{Kind: audit.ActorClient, ID: "desk-" + f.tag}

	given, err := f.svc.Give(ctx, f.req(subject, kindConsent))
	must(t, err, "Give")
	d1, err := f.svc.Decide(ctx, f.query(subject, kindConsent))
	must(t, err, "Decide")
	r := f.req(subject, kindConsent)
	r.Actor = desk
	withdrawn, err := f.svc.Withdraw(ctx, r)
	must(t, err, "Withdraw")
	d2, err := f.svc.Decide(ctx, f.query(subject, kindConsent))
	must(t, err, "Decide")
	objected, err := f.svc.Object(audit.WithActor(ctx, audit.Actor{Kind: audit.ActorDPO, ID: "dpo-1"}), f.req(subject, kindObjectable))
	must(t, err, "Object")
	unknown := consent.Query{Subject: subject, Controller: pc.Controller, Purpose: "gone-" + f.tag, Categories: []string{"identity"}}
	_, err = f.svc.Decide(ctx, unknown)
	must(t, err, "Decide unknown")
	f.clock.Add(2 * time.Hour)
	_, err = f.svc.Give(ctx, f.req(subject, kindConsent))
	must(t, err, "Give again")
	f.clock.Add(2 * time.Hour)
	_, err = f.svc.Expire(ctx, f.clock.Now())
	must(t, err, "Expire")

	cats := []string{"address", "contact", "identity"} // sorted, as the log keeps them
	sys := audit.Actor{Kind: audit.ActorSystem, ID: consent.SchedulerActor}
	want := []audit.Entry{
		{Actor: citizen, Action: "consent.give", Purpose: pc.DPV, LegalBasis: "consent",
			ConsentRecord: consent.AuditRecord(pc.ID, 1, given.Ref()), Categories: cats, Outcome: audit.Allowed},
		{Actor: audit.Actor{Kind: audit.ActorClient, ID: pc.Controller}, Action: "consent.decide", Purpose: pc.DPV, LegalBasis: "consent",
			ConsentRecord: consent.AuditRecord(pc.ID, 1, d1.Record), Categories: []string{"identity"}, Outcome: audit.Allowed},
		{Actor: desk, Action: "consent.withdraw", Purpose: pc.DPV, LegalBasis: "consent",
			ConsentRecord: consent.AuditRecord(pc.ID, 1, withdrawn.Ref()), Categories: cats, Outcome: audit.Allowed},
		{Actor: audit.Actor{Kind: audit.ActorClient, ID: pc.Controller}, Action: "consent.decide", Purpose: pc.DPV, LegalBasis: "consent",
			ConsentRecord: consent.AuditRecord(pc.ID, 1, d2.Record), Categories: []string{"identity"}, Outcome: audit.Denied},
		{Actor: audit.Actor{Kind: audit.ActorDPO, ID: "dpo-1"}, Action: "consent.object", Purpose: po.DPV, LegalBasis: "public_task",
			ConsentRecord: consent.AuditRecord(po.ID, 1, objected.Ref()), Categories: cats, Outcome: audit.Allowed},
		{Actor: audit.Actor{Kind: audit.ActorClient, ID: pc.Controller}, Action: "consent.decide",
			ConsentRecord: "gone-" + f.tag, Categories: []string{"identity"}, Outcome: audit.Denied},
		{Actor: citizen, Action: "consent.give", Purpose: pc.DPV, LegalBasis: "consent",
			ConsentRecord: consent.AuditRecord(pc.ID, 1, consent.Ref{RecordID: given.ID, Seq: 3}), Categories: cats, Outcome: audit.Allowed},
		{Actor: sys, Action: "consent.expire", Purpose: pc.DPV, LegalBasis: "consent",
			ConsentRecord: consent.AuditRecord(pc.ID, 1, consent.Ref{RecordID: given.ID, Seq: 4}), Categories: cats, Outcome: audit.Allowed},
	}
	// Changes enter the log through the outbox and decisions directly, so
	// their order in the log may differ from the order of the calls.
	got := map[string]audit.Entry{}
	for _, e := range entries(t, env.Log) {
		if e.Action == consent.ActionPurpose {
			continue // the fixture's purposes (testPutPurposeIdempotent)
		}
		got[e.Action+" "+e.ConsentRecord+" "+string(e.Outcome)] = e
	}
	if len(got) != len(want) {
		t.Errorf("audit log: got %d distinct entries, want %d", len(got), len(want))
	}
	for i, w := range want {
		g, ok := got[w.Action+" "+w.ConsentRecord+" "+string(w.Outcome)]
		if !ok {
			t.Errorf("entry %d (%s %s): missing", i, w.Action, w.ConsentRecord)
			continue
		}
		w.Subject, w.RequestID = pseudonym(subject), "req-42"
		if g.Actor != w.Actor || g.Subject != w.Subject || g.Purpose != w.Purpose || g.LegalBasis != w.LegalBasis ||
			!slices.Equal(g.Categories, w.Categories) || g.RequestID != w.RequestID || g.Time.IsZero() {
			t.Errorf("entry %d:\n got %+v\nwant %+v", i, g, w)
		}
		if strings.Contains(string(mustCanonical(t, g)), `"`+subject+`"`) {
			t.Errorf("entry %d holds the citizen ID", i)
		}
	}
}

func mustCanonical(t testing.TB, e audit.Entry) []byte {
	b, err := e.Canonical()
	must(t, err, "Canonical")
	return b
}

// testAuditAtomic: every event has exactly one audit entry and every
// change entry one event; a change whose entry cannot be written leaves
// neither.
func testAuditAtomic(t *testing.T, env Env) {
	f := newFixture(t, env)
	ctx := context.Background()
	ops := []string{"give", "withdraw", "give", "renew", "withdraw", "refuse", "give"}
	var subjects []string
	for i := range 6 {
		s := fmt.Sprintf("citizen-%s-%d", f.tag, i)
		subjects = append(subjects, s)
		for j, op := range ops[:2+i%len(ops)] {
			if _, err := f.op(ctx, f.svc, op, f.req(s, kindConsent)); err != nil {
				t.Fatalf("citizen %d op %d %s: %v", i, j, op, err)
			}
		}
		// Changes that may not apply to the state reached: those refused
		// write nothing.
		f.op(ctx, f.svc, "withdraw", f.req(s, kindConsent))
		f.op(ctx, f.svc, "refuse", f.req(s, kindConsent))
	}
	_, err := f.svc.Object(ctx, f.req(subjects[0], kindObjectable))
	must(t, err, "Object")

	failing := "fail-" + f.tag
	_, err = f.svc.Give(ctx, f.req(failing, kindConsent))
	if !errors.Is(err, audit.ErrInvalidEntry) {
		t.Fatalf("Give whose audit entry is invalid: got %v, want audit.ErrInvalidEntry", err)
	}
	if h, err := f.svc.History(ctx, failing); err != nil || len(h) != 0 {
		t.Errorf("History of the failed change: got %d events, %v; want none", len(h), err)
	}
	if _, err := f.svc.Record(ctx, failing, f.purposes[kindConsent].ID); !errors.Is(err, consent.ErrNotFound) {
		t.Errorf("Record of the failed change: got %v, want ErrNotFound", err)
	}

	byRecord := map[string]int{}
	for _, e := range entries(t, env.Log) {
		if e.Action != consent.ActionDecide && e.Action != consent.ActionPurpose {
			byRecord[e.Action+" "+e.ConsentRecord]++
		}
	}
	events := 0
	for _, s := range append(subjects, failing) {
		hist, err := f.svc.History(ctx, s)
		must(t, err, "History")
		for _, e := range hist {
			events++
			k := consent.Action(e.Type) + " " + consent.AuditRecord(e.Key.Purpose, e.PurposeVersion, e.Ref())
			if byRecord[k] != 1 {
				t.Errorf("event %s: got %d audit entries, want 1", k, byRecord[k])
			}
			delete(byRecord, k)
		}
	}
	for k, n := range byRecord {
		t.Errorf("audit entry %s (%d times): no event records it", k, n)
	}
	if events == 0 {
		t.Fatal("no events")
	}
}

func testEffects(t *testing.T, env Env) {
	f := newFixture(t, env)
	ctx := context.Background()
	subject := "citizen-" + f.tag
	for _, op := range []string{"give", "renew", "withdraw", "give"} {
		_, err := f.op(ctx, f.svc, op, f.req(subject, kindConsent))
		must(t, err, op)
	}
	_, err := f.svc.Object(ctx, f.req(subject, kindObjectable))
	must(t, err, "Object")
	if got := f.effects.states(); !slices.Equal(got, []consent.State{consent.StateWithdrawn, consent.StateObjected}) {
		t.Errorf("Effects after give, renew, withdraw, give, object: got %q, want withdrawn, objected", got)
	}

	f.effects.failing = true
	r, err := f.svc.Withdraw(ctx, f.req(subject, kindConsent))
	if !errors.Is(err, consent.ErrEffects) {
		t.Fatalf("Withdraw with failing effects: got %v, want ErrEffects", err)
	}
	if r.State != consent.StateWithdrawn || r.Seq != 5 {
		t.Errorf("Withdraw with failing effects: got record %s #%d, want withdrawn #5", r.State, r.Seq)
	}
	if d, err := f.svc.Decide(ctx, f.query(subject, kindConsent)); err != nil || d.Allow {
		t.Errorf("Decide after the withdrawal: got %+v, %v; want denied (the change stands)", d, err)
	}
	if n := f.svc.Stats().EffectFailures; n != 1 {
		t.Errorf("Stats.EffectFailures: got %d, want 1", n)
	}
}

func testClose(t *testing.T, env Env) {
	f := newFixture(t, env)
	ctx := context.Background()
	id := f.svc.ReplicaID()
	must(t, f.svc.Close(), "Close")
	if _, err := f.svc.Decide(ctx, f.query("c", kindConsent)); !errors.Is(err, consent.ErrClosed) {
		t.Errorf("Decide after Close: got %v, want ErrClosed", err)
	}
	if _, err := f.svc.Give(ctx, f.req("c", kindConsent)); !errors.Is(err, consent.ErrClosed) {
		t.Errorf("Give after Close: got %v, want ErrClosed", err)
	}
	rs, err := env.Store.ListReplicas(ctx)
	must(t, err, "ListReplicas")
	for _, r := range rs {
		if r.ID == id {
			t.Errorf("replica %s still registered after Close", id)
		}
	}
	must(t, f.svc.Close(), "Close twice")
}
