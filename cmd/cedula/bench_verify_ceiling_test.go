package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/floor"
	"github.com/cedula/cedula/internal/bench"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/sdjwt"
	"github.com/cedula/cedula/internal/statuslist"
	"github.com/cedula/cedula/issuer/credential"
)

// BenchmarkV2 measures V₂, the reference of `cedula bench verify`: ES256
// verifications per second of a fixed JWS on all cores (b.RunParallel,
// one goroutine per GOMAXPROCS), the same check the bench measures after
// each round.
//
//	go test -run '^$' -bench V2 ./cmd/cedula/
func BenchmarkV2(b *testing.B) {
	c, err := bench.NewES256Check()
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !c.Verify() {
				b.Error("the JWS did not verify")
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifications/s")
}

// v2Duration is how long BenchmarkVerifyCeiling measures V₂, as the bench
// does by default after each round.
const v2Duration = 3 * time.Second

// BenchmarkVerifyCeiling measures what one presentation costs the verifier
// at the least on this machine, to read `cedula bench verify` against: the
// wallet's answer made as the bench makes it (the demo PID's address
// disclosed, the KB-JWT signed, the form), posted with the bench's client
// code at verifyConcurrency, an HTTP round trip on loopback, and a handler
// that does only the verifications a presentation needs — the form and
// vp_token parsed, the SD-JWT split and its disclosures decoded, the
// issuer's signature verified (ES256) with the issuer's key at hand, the
// disclosures hashed and checked against the payload, the KB-JWT verified
// (ES256) with the credential's cnf key and its sd_hash, aud and nonce
// checked — and answers 200 {}. Variant crypto does nothing else: no key
// or status-list lookups (the bench's are cached), no DCQL, no ledger, no
// database, no audit entry, no middleware — the ceiling the issue names.
// Variants sqlite and postgres add the reads and the write an answer
// cannot do without, in a database of that kind: the request read by its
// ID (its nonce and state), the holder's record read by the credential's
// status list place (for the ledger), and, group-committed before the
// answer, the request's compare-and-set to verified with the answer's two
// audit entries — the ledger's decision and the presentation — and the
// indexes the log keeps (audit/floor). V₂ is measured after each in the
// same run, and the benchmark reports both rates and their ratio.
//
//	go test -run '^$' -bench VerifyCeiling -benchtime 20000x ./cmd/cedula/
func BenchmarkVerifyCeiling(b *testing.B) {
	for _, variant := range ceilingVariants {
		b.Run(variant, func(b *testing.B) {
			c := newVerifyCeiling(b)
			switch variant {
			case "sqlite":
				c.st = newVerifyCeilingStore(b, dbtest.SQLite(b), b.N+1, c)
			case "postgres":
				c.st = newVerifyCeilingStore(b, dbtest.Postgres(b), b.N+1, c)
			}
			srv := httptest.NewServer(c)
			b.Cleanup(srv.Close)
			hc := bench.NewHTTPClient(verifyConcurrency)
			a, err := c.holder.answer(verifyRequestObject{ClientID: c.aud, Nonce: c.nonce, State: c.state, ResponseURI: srv.URL + "/vp/responses/ceiling",
				ResponseMode: "direct_post"}, verifyQueryID, time.Now())
			if err != nil {
				b.Fatal(err)
			}
			// With a store, each answer goes to a request of its own (the
			// requests share the nonce, so one answer serves them all).
			var next atomic.Int64
			op := func(ctx context.Context, _ int) error {
				a := a
				a.uri = srv.URL + "/vp/responses/" + strconv.FormatInt(next.Add(1)-1, 10)
				return postAnswer(ctx, hc, a)
			}
			if err := op(b.Context(), 0); err != nil {
				b.Fatal(err)
			}
			check, err := bench.NewES256Check()
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			_, elapsed, err := bench.Loop(b.Context(), b.N, verifyConcurrency, op)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			rate := float64(b.N) / elapsed.Seconds()
			v, err := bench.MeasureV2(b.Context(), check, 0, v2Duration)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(rate, "presentations/s")
			b.ReportMetric(v.Rate, "V2/s")
			b.ReportMetric(rate/v.Rate, "ceiling/V2")
		})
	}
}

// verifyCeilingStore is the least database work of an answer.
type verifyCeilingStore struct {
	d      *db.DB
	finish *db.Group[verifyCeilingFinish]
}

type verifyCeilingFinish struct {
	id      string
	entries []audit.Entry
}

// newVerifyCeilingStore makes n open requests (IDs 0 to n-1) and the
// holder's record, and the group that ends requests with their entries.
func newVerifyCeilingStore(b testing.TB, d *db.DB, n int, c *verifyCeiling) *verifyCeilingStore {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	if err := floor.Create(ctx, d,
		`CREATE TABLE floor_requests (id TEXT PRIMARY KEY, nonce TEXT NOT NULL, state TEXT NOT NULL, status TEXT NOT NULL, expires BIGINT NOT NULL, answered BIGINT)`,
		`CREATE TABLE floor_places (list TEXT NOT NULL, idx BIGINT NOT NULL, citizen TEXT NOT NULL, PRIMARY KEY (list, idx))`); err != nil {
		b.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).UnixMicro()
	err := d.InTx(ctx, func(tx *sql.Tx) error {
		for start := 0; start < n; start += 1000 {
			var rows []any
			for i := start; i < min(n, start+1000); i++ {
				rows = append(rows, strconv.Itoa(i), c.nonce, c.state, "fetched", exp)
			}
			if err := d.InsertRows(ctx, tx, `INSERT INTO floor_requests (id, nonce, state, status, expires) VALUES `, "", 5, rows); err != nil {
				return err
			}
		}
		return d.InsertRows(ctx, tx, `INSERT INTO floor_places (list, idx, citizen) VALUES `, "", 3, []any{c.issuer + "/vci/status/ceiling", 7, "citizen-7"})
	})
	if err != nil {
		b.Fatal(err)
	}
	log, err := floor.NewLog(ctx, d, true)
	if err != nil {
		b.Fatal(err)
	}
	st := &verifyCeilingStore{d: d}
	st.finish = db.NewGroup(ctx, 128, func(fs []verifyCeilingFinish) []error {
		errs := make([]error, len(fs))
		now := time.Now().UnixMicro()
		var done func(bool)
		err := d.InTx(ctx, func(tx *sql.Tx) error {
			var entries []audit.Entry
			for i, f := range fs {
				res, err := d.ExecCached(ctx, tx, `UPDATE floor_requests SET status = 'verified', answered = $2 WHERE id = $1 AND status = 'fetched' AND expires > $2`, f.id, now)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n == 0 {
					errs[i] = errors.New("the request is closed")
					continue
				}
				entries = append(entries, f.entries...)
			}
			var err error
			done, err = log.Append(ctx, tx, entries)
			return err
		})
		if done != nil {
			done(err == nil)
		}
		if err != nil {
			return floor.Fill(len(fs), err)
		}
		return errs
	})
	return st
}

// request reads an open request's nonce and state.
func (st *verifyCeilingStore) request(ctx context.Context, id string) (nonce, state string, err error) {
	var status string
	err = st.d.QueryRowCached(ctx, nil, `SELECT nonce, state, status FROM floor_requests WHERE id = $1`, id).Scan(&nonce, &state, &status)
	if err == nil && status != "fetched" {
		err = errors.New("the request is closed")
	}
	return nonce, state, err
}

// holder reads the citizen at a status list place.
func (st *verifyCeilingStore) holder(ctx context.Context, list string, idx int) (string, error) {
	var citizen string
	err := st.d.QueryRowCached(ctx, nil, `SELECT citizen FROM floor_places WHERE list = $1 AND idx = $2`, list, idx).Scan(&citizen)
	return citizen, err
}

// verifyCeiling is the least a verifier's response endpoint does.
type verifyCeiling struct {
	issuerJWK         json.RawMessage
	aud, nonce, state string
	holder            verifyHolder
	issuer, claim     string
	st                *verifyCeilingStore // nil: crypto alone
}

// TestVerifyCeiling: the ceiling's handler takes the answer the bench's
// wallet code makes, and refuses one bound to another nonce or whose
// disclosure was changed: it does the checks it claims to.
func TestVerifyCeiling(t *testing.T) {
	c := newVerifyCeiling(t)
	srv := httptest.NewServer(c)
	defer srv.Close()
	ro := verifyRequestObject{ClientID: c.aud, Nonce: c.nonce, State: c.state, ResponseURI: srv.URL, ResponseMode: "direct_post"}
	good, err := c.holder.answer(ro, verifyQueryID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ro.Nonce = "another-nonce"
	otherNonce, _ := c.holder.answer(ro, verifyQueryID, time.Now())
	changed := good
	changed.form = strings.Replace(good.form, "~", "~"+"WyJzIiwiYWRkcmVzcyIsIngiXQ"+"~", 1)
	for _, tc := range []struct {
		name string
		a    verifyAnswer
		ok   bool
	}{{"good", good, true}, {"another nonce", otherNonce, false}, {"a disclosure added", changed, false}} {
		t.Run(tc.name, func(t *testing.T) {
			if err := postAnswer(t.Context(), srv.Client(), tc.a); (err == nil) != tc.ok {
				t.Errorf("postAnswer: %v; want success %v", err, tc.ok)
			}
		})
	}
}

func newVerifyCeiling(b testing.TB) *verifyCeiling {
	cc := newCredentialCeiling(b) // the demo PID, its claims and an issuer key of a local keystore
	hk, err := jose.NewClientKey(keys.ES256)
	if err != nil {
		b.Fatal(err)
	}
	cnf, err := hk.PublicJWK()
	if err != nil {
		b.Fatal(err)
	}
	cred, _, err := credential.Issue(b.Context(), cc.key, credential.Request{Issuer: cc.issuer, Type: cc.pid, Claims: cc.claims,
		Holder: cnf, Now: time.Now(), Status: &statuslist.Reference{Index: 7, URI: cc.issuer + "/vci/status/ceiling"}})
	if err != nil {
		b.Fatal(err)
	}
	c := &verifyCeiling{aud: "x509_san_dns:verifier.ceiling.invalid", nonce: "the-ceiling-request-nonce", state: "the-ceiling-state",
		issuer: cc.issuer, claim: verifyClaim}
	if c.issuerJWK, err = jose.PublicJWK(cc.key.Public()); err != nil {
		b.Fatal(err)
	}
	if c.holder, err = newVerifyHolder(cred, verifyClaim, hk); err != nil {
		b.Fatal(err)
	}
	return c
}

func (c *verifyCeiling) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := c.verify(r); err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request", "error_description": err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte("{}\n"))
}

// verify does the answer's verifications (and, with a store, its reads
// and its write), and nothing else.
func (c *verifyCeiling) verify(r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return err
	}
	nonce, state := c.nonce, c.state
	id := strings.TrimPrefix(r.URL.Path, "/vp/responses/")
	if c.st != nil {
		var err error
		if nonce, state, err = c.st.request(r.Context(), id); err != nil {
			return err
		}
	}
	if r.PostForm.Get("state") != state {
		return errors.New("state does not match")
	}
	var vp map[string][]string
	if err := json.Unmarshal([]byte(r.PostForm.Get("vp_token")), &vp); err != nil || len(vp[verifyQueryID]) != 1 {
		return errors.New("vp_token is not one presentation for the query")
	}
	pres := vp[verifyQueryID][0]
	p, err := sdjwt.Parse(pres)
	if err != nil {
		return err
	}
	signed, err := jose.VerifyJWK([]byte(p.JWT), c.issuerJWK, keys.ES256)
	if err != nil {
		return err
	}
	var payload map[string]any
	dec := json.NewDecoder(bytes.NewReader(signed))
	dec.UseNumber()
	if err := dec.Decode(&payload); err != nil {
		return err
	}
	claims, err := sdjwt.Reconstruct(payload, p.Disclosures)
	if err != nil {
		return err
	}
	if claims["iss"] != c.issuer || claims[c.claim] == nil {
		return errors.New("not the issuer's, or the claim is not disclosed")
	}
	cnf, _ := claims["cnf"].(map[string]any)
	holder, err := json.Marshal(cnf["jwk"])
	if err != nil || cnf["jwk"] == nil {
		return errors.New("no cnf.jwk")
	}
	kbRaw, err := jose.VerifyJWK([]byte(p.KB), holder, keys.ES256)
	if err != nil {
		return err
	}
	var kb struct {
		Aud, Nonce string
		SDHash     string `json:"sd_hash"`
	}
	if err := json.Unmarshal(kbRaw, &kb); err != nil {
		return err
	}
	if kb.Aud != c.aud || kb.Nonce != nonce || kb.SDHash != sdjwt.SDHash(pres) || !strings.HasSuffix(pres, p.KB) {
		return errors.New("the key binding is not for this request")
	}
	if c.st == nil {
		return nil
	}
	status, _ := claims["status"].(map[string]any)
	list, _ := status["status_list"].(map[string]any)
	uri, _ := list["uri"].(string)
	idx, _ := list["idx"].(json.Number).Int64()
	citizen, err := c.st.holder(r.Context(), uri, int(idx))
	if err != nil {
		return err
	}
	now := time.Now()
	e := audit.Entry{Time: now, Actor: audit.Actor{Kind: audit.ActorClient, ID: "demo-machine"}, Subject: "p-" + citizen,
		Purpose: "dpv:ServiceProvision", LegalBasis: "public-task", Categories: []string{"address"}, Outcome: audit.Allowed, RequestID: id}
	decision, presented := e, e
	decision.Action, presented.Action = "consent.decide", "verifier.present"
	return c.st.finish.Do(r.Context(), verifyCeilingFinish{id: id, entries: []audit.Entry{decision, presented}})
}
