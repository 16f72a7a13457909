package consenttest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/testutil"
)

// RunStoreTests runs the storage suite. newStore is called once per
// subtest; the store may share its database with other subtests and other
// data (the suite names everything it writes with a random tag), but its
// ledger must hold no records that expired before 2010.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) consent.Store) {
	for _, st := range []struct {
		name string
		run  func(t *testing.T, s consent.Store)
	}{
		{"PurposeVersions", testPurposeVersions},
		{"PurposeConcurrentVersions", testPurposeConcurrentVersions},
		{"AppendAndRead", testAppendAndRead},
		{"EventFieldsRoundTrip", testEventRoundTrip},
		{"AppendConflict", testAppendConflict},
		{"AppendInvalid", testAppendInvalid},
		{"AppendWithinFailsStoresNothing", testAppendWithinFails},
		{"AppendBatchAllOrNothing", testAppendBatch},
		{"ConcurrentAppendsOneWins", testConcurrentAppends},
		{"ConcurrentNewRecordOneWins", testConcurrentCreate},
		{"PositionsAndChanges", testPositions},
		{"DueToExpire", testDueToExpire},
		{"OnOldNotice", testOnOldNotice},
		{"Counts", testCounts},
		{"EventCounts", testEventCounts},
		{"ScanRecords", testScanRecords},
		{"Replicas", testReplicas},
	} {
		t.Run(st.name, func(t *testing.T) { st.run(t, newStore(t)) })
	}
}

// Env is a Service's surroundings for the service suite.
type Env struct {
	// Store is a store over a database of its own, empty.
	Store consent.Store
	// Log is an audit log in the same database: the Service calls its
	// AppendTx inside Store's transactions.
	Log audit.Log
	// Replica opens another Store and Log over the same database, with
	// their own connections, as a second `cedula serve` would.
	Replica func(t *testing.T) (consent.Store, audit.Log)
	// Preload starts every Service of the suite with Config.Preload, its
	// cache complete; run the suite with and without it.
	Preload bool
}

// RunServiceTests runs the suite of the Service's rules, its audit
// entries, its effects and its cache across replicas. newEnv is called
// once per subtest and must return a fresh database.
func RunServiceTests(t *testing.T, newEnv func(t *testing.T) Env) {
	for _, st := range []struct {
		name string
		run  func(t *testing.T, env Env)
	}{
		{"NewReportsEveryProblem", testNewConfig},
		{"Rules", testRules},
		{"Decide", testDecide},
		{"ExpireAndRenew", testExpire},
		{"NoticeChanged", testNoticeChanged},
		{"PutPurposeIdempotent", testPutPurposeIdempotent},
		{"AuditEntries", testAuditEntries},
		{"AuditAtomic", testAuditAtomic},
		{"Effects", testEffects},
		{"Close", testClose},
		{"CrossReplicaChanges", testCrossReplica},
		{"ConcurrentGiveWithdrawTwoReplicas", testConcurrentReplicas},
		{"DeadReplicaIsFenced", testDeadReplica},
		{"FencedReplicaStartsAfresh", testFencedReplica},
		{"PartitionedReplicaStopsTrustingItsCache", testPartitionedReplica},
		{"CompleteCache", testCompleteCache},
	} {
		t.Run(st.name, func(t *testing.T) { st.run(t, newEnv(t)) })
	}
}

// Helpers.

func must(t testing.TB, err error, op string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
}

// tag returns a random lowercase tag that keeps a subtest's names apart.
func tag() string {
	b := make([]byte, 5)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Kinds of test purposes.
const (
	kindConsent    = "consent"    // consent, retention one hour
	kindObjectable = "objectable" // public task with profiling
	kindPublic     = "public"     // public task, no profiling
	kindLegal      = "legal"      // legal obligation
)

// newPurpose returns a valid purpose of kind, named kind-tag, of the
// controller "agency-tag".
func newPurpose(kind, tg string) consent.Purpose {
	p := consent.Purpose{
		ID:            kind + "-" + tg,
		Name:          consent.Text{ES: "Propósito " + kind, EN: "Purpose " + kind},
		Description:   consent.Text{ES: "Descripción de prueba.", EN: "Test description."},
		Controller:    "agency-" + tg,
		LegalBasis:    consent.Consent,
		Categories:    []string{"identity", "contact", "address"},
		DPV:           "dpv:ServiceProvision",
		NoticeVersion: "n1",
		NoticeURL:     "https://agency.example.gub.uy/notice",
	}
	switch kind {
	case kindConsent:
		p.Retention = time.Hour
	case kindObjectable:
		p.LegalBasis, p.Profiling, p.DPV = consent.PublicTask, true, "dpv:PersonalisedBenefits"
	case kindPublic:
		p.LegalBasis, p.DPV = consent.PublicTask, "dpv:PublicBenefitAdministration"
	case kindLegal:
		p.LegalBasis, p.DPV = consent.LegalObligation, "dpv:LegalCompliance"
	}
	return p
}

// pseudonym is the test's pseudonym function; subjects starting "fail-"
// get one longer than an audit field may be, so that their audit entries
// are invalid and the changes recording them fail inside the transaction.
func pseudonym(id string) string {
	if strings.HasPrefix(id, "fail-") {
		return strings.Repeat("x", audit.MaxFieldLen+1)
	}
	return "psn-" + id
}

// effects records Ended calls and fails while failing is set.
type effects struct {
	mu      sync.Mutex
	ended   []consent.Record
	failing bool
}

func (e *effects) Ended(_ context.Context, r consent.Record) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ended = append(e.ended, r)
	if e.failing {
		return errors.New("token service unreachable")
	}
	return nil
}

func (e *effects) states() []consent.State {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []consent.State
	for _, r := range e.ended {
		out = append(out, r.State)
	}
	return out
}

// Test timings: a short lease and a fast sync loop keep the replica tests
// quick; they assert behaviour, never durations.
const (
	testLease = 400 * time.Millisecond
	testSync  = 5 * time.Millisecond
)

// service starts a Service over store and log, closed when the test ends;
// preload sets Config.Preload.
func service(t *testing.T, store consent.Store, log audit.Appender, c *testutil.Clock, fx consent.Effects, preload bool) *consent.Service {
	t.Helper()
	cfg := consent.Config{
		Store: store, Audit: log, Pseudonym: pseudonym, Effects: fx,
		Lease: testLease, SyncInterval: testSync, Preload: preload,
	}
	if c != nil {
		cfg.Now = c.Now
	}
	s, err := consent.New(context.Background(), cfg)
	must(t, err, "consent.New")
	t.Cleanup(func() { s.Close() })
	return s
}

// fixture is a Service with one purpose of each kind.
type fixture struct {
	env      Env
	svc      *consent.Service
	clock    *testutil.Clock
	effects  *effects
	tag      string
	purposes map[string]consent.Purpose
}

func newFixture(t *testing.T, env Env) *fixture {
	t.Helper()
	f := &fixture{env: env, clock: testutil.Shifted(), effects: &effects{}, tag: tag(), purposes: map[string]consent.Purpose{}}
	f.svc = service(t, env.Store, env.Log, f.clock, f.effects, env.Preload)
	for _, k := range []string{kindConsent, kindObjectable, kindPublic, kindLegal} {
		p, err := f.svc.PutPurpose(context.Background(), newPurpose(k, f.tag))
		must(t, err, "PutPurpose "+k)
		f.purposes[k] = p
	}
	return f
}

// req is a web request of subject about the purpose of kind.
func (f *fixture) req(subject, kind string) consent.Request {
	return consent.Request{Subject: subject, Purpose: f.purposes[kind].ID, Method: consent.MethodWeb}
}

// query asks, as the purpose's controller, for its first category.
func (f *fixture) query(subject, kind string) consent.Query {
	p := f.purposes[kind]
	return consent.Query{Subject: subject, Controller: p.Controller, Purpose: p.ID, Categories: p.Categories[:1]}
}

// op applies a named change: give, refuse, withdraw, renew or object.
func (f *fixture) op(ctx context.Context, svc *consent.Service, name string, r consent.Request) (consent.Record, error) {
	switch name {
	case "give":
		return svc.Give(ctx, r)
	case "refuse":
		return svc.Refuse(ctx, r)
	case "withdraw":
		return svc.Withdraw(ctx, r)
	case "renew":
		return svc.Renew(ctx, r)
	case "object":
		return svc.Object(ctx, r)
	}
	panic("unknown op " + name)
}

// entries flushes log and returns every entry in it.
func entries(t testing.TB, log audit.Log) []audit.Entry {
	t.Helper()
	ctx := context.Background()
	must(t, log.Flush(ctx), "audit Flush")
	n, err := log.Size(ctx)
	must(t, err, "audit Size")
	var out []audit.Entry
	for start := int64(0); start < n; start += audit.MaxEntries {
		recs, err := log.Entries(ctx, start, min(n, start+audit.MaxEntries))
		must(t, err, "audit Entries")
		for _, r := range recs {
			e, err := r.Entry()
			must(t, err, fmt.Sprintf("parse entry %d", r.Index))
			out = append(out, e)
		}
	}
	return out
}

// eventually polls cond until it holds, failing after a long while: it
// checks liveness, not speed.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after 20s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
