package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
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
	"github.com/cedula/cedula/internal/keys/localkeys"
	"github.com/cedula/cedula/internal/random"
	"github.com/cedula/cedula/internal/statuslist"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/credential"
	"github.com/cedula/cedula/issuer/vci"
)

// BenchmarkCredentialCeiling measures what one credential request costs
// at the least on this machine, to read `cedula bench credential` against:
// the wallet's part exactly as the bench does it (a fresh ES256 holder
// key, its key proof and the DPoP proof signed, the JSON body), an HTTP
// round trip on loopback, and a handler that does only the request's
// crypto — the DPoP proof verified (ES256) and checked against the method,
// URL and token, the key proof verified (ES256) and its aud and nonce
// checked — and then makes the demo PID SD-JWT VC for the proof's key
// (its disclosures, one ES256 signature with a key of a local keystore)
// and answers it in JSON. It is loaded like the bench (vciConcurrency
// workers in a closed loop), then J the same way, in the same run, and
// reports both rates and their ratio.
//
// Variant crypto does nothing else: no token lookup, no ledger decision,
// no database, no audit entry, no middleware — what the issue's ceiling
// names. Variants sqlite and postgres add the one write an issuance
// cannot do without: before it answers, the handler group-commits the
// issuance record (its status place) with the issuance's audit entry and
// the indexes the log must keep (audit/floor), as the store
// does, in a database of that kind.
//
//	go test -run '^$' -bench CredentialCeiling -benchtime 20000x ./cmd/cedula/
func BenchmarkCredentialCeiling(b *testing.B) {
	for _, variant := range ceilingVariants {
		b.Run(variant, func(b *testing.B) {
			c, hc, ref := startCeiling(b, variant)
			w := &wallet{is: &vciIssuer{hc: hc, id: c.issuer, credential: c.url}, token: c.token, ath: c.ath}
			var err error
			if w.dpop, err = jose.NewClientKey(keys.ES256); err != nil {
				b.Fatal(err)
			}
			measureCeiling(b, ref, hc, "credentials/s", func(ctx context.Context) error { return w.credential(ctx, "pid", c.nonce, 1) })
		})
	}
}

// ceilingVariants are the ceilings' variants: crypto alone, then with
// the requests' durable writes in SQLite and in PostgreSQL.
var ceilingVariants = []string{"crypto", "sqlite", "postgres"}

// startCeiling serves the ceiling's handler (with the variant's store)
// and J on loopback, and returns the handler and the HTTP client the
// loads share.
func startCeiling(b *testing.B, variant string) (*credentialCeiling, *http.Client, *bench.Reference) {
	c := newCredentialCeiling(b)
	switch variant {
	case "sqlite":
		c.st = newCeilingStore(b, dbtest.SQLite(b))
	case "postgres":
		c.st = newCeilingStore(b, dbtest.Postgres(b))
	}
	srv := httptest.NewServer(c)
	b.Cleanup(srv.Close)
	c.url = srv.URL
	ref, err := bench.StartReference(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ref.Close() })
	return c, bench.NewHTTPClient(vciConcurrency), ref
}

// measureCeiling checks op once, then loads it and J the same way and
// reports both rates (op's in unit) and their ratio.
func measureCeiling(b *testing.B, ref *bench.Reference, hc *http.Client, unit string, op func(context.Context) error) {
	if err := op(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	rate := ceilingRate(b, op)
	j := ceilingRate(b, ref.Op(hc))
	b.StopTimer()
	b.ReportMetric(rate, unit)
	b.ReportMetric(j, "J/s")
	b.ReportMetric(rate/j, "ceiling/J")
}

// BenchmarkFlowCeiling is BenchmarkCredentialCeiling for the whole
// pre-authorized flow of `cedula bench issue`, with the same wallet code:
// the token request (a fresh DPoP key, its proof signed; the handler
// verifies it and answers a fixed token), a nonce request (a fixed nonce)
// and the credential request as above — three round trips, three ES256
// verifications and one signature on the server side. Variant crypto does
// nothing else. Variants sqlite and postgres add what the flow cannot do
// without, and nothing more: the offer read and its tx_code checked; the
// spent pre-authorized code and the access token it buys (a fresh one,
// stored by its hash with its DPoP key's thumbprint, so that it can be
// revoked) group-committed before the token is answered; a fresh nonce
// from the nonce endpoint (MACed, stateless); at the credential request
// the token read back and bound to the DPoP key, the citizen's record
// read; and, group-committed before the credential is answered, the
// issuance record, the spent nonce (a nonce is good once) and the two
// audit entries every issuance owes — the ledger's decision and the
// issuance itself (DESIGN: decisions are appended to the log). What the
// server does beyond this — the redemption's own audit entry, the
// ledger's lookups, middleware, metrics — is what the ceiling leaves out.
//
//	go test -run '^$' -bench FlowCeiling -benchtime 10000x ./cmd/cedula/
func BenchmarkFlowCeiling(b *testing.B) {
	for _, variant := range ceilingVariants {
		b.Run(variant, func(b *testing.B) {
			c, hc, ref := startCeiling(b, variant)
			c.flow = true
			is := &vciIssuer{hc: hc, id: c.issuer, credential: c.url, token: c.url + "/token", nonce: c.url + "/nonce"}
			measureCeiling(b, ref, hc, "flows/s", func(ctx context.Context) error {
				w, err := is.redeem(ctx, vciOffer{code: "code", txCode: "123456"})
				if err != nil {
					return err
				}
				nonce, err := is.fetchNonce(ctx)
				if err != nil {
					return err
				}
				return w.credential(ctx, "pid", nonce, 1)
			})
		})
	}
}

// ceilingRate runs op b.N times from vciConcurrency workers, each with one
// call in flight, and returns the calls per second.
func ceilingRate(b *testing.B, op func(context.Context) error) float64 {
	_, elapsed, err := bench.Loop(context.Background(), b.N, vciConcurrency, func(ctx context.Context, _ int) error { return op(ctx) })
	if err != nil {
		b.Error(err)
	}
	return float64(b.N) / elapsed.Seconds()
}

// credentialCeiling is the least a credential endpoint does.
type credentialCeiling struct {
	url, issuer, nonce, token, ath string
	key                            keys.Key
	pid                            credential.Type
	claims                         map[string]any
	st                             *ceilingStore // nil: crypto alone
	flow                           bool          // with a store: per-flow tokens and nonces
	nonceKey                       []byte
}

// ceilingKeystore opens a throwaway local keystore, and returns it with
// its random key-encryption key.
func ceilingKeystore(b testing.TB) (*localkeys.Manager, []byte) {
	kek := make([]byte, localkeys.KEKSize)
	rand.Read(kek)
	ks, err := localkeys.Open(filepath.Join(b.TempDir(), "keystore.json"), localkeys.WithKEK(kek))
	if err != nil {
		b.Fatal(err)
	}
	return ks, kek
}

func newCredentialCeiling(b testing.TB) *credentialCeiling {
	ctx := b.Context()
	ks, _ := ceilingKeystore(b)
	var err error
	c := &credentialCeiling{issuer: "https://issuer.ceiling.invalid", nonce: "the-ceiling-nonce", token: "the-ceiling-access-token",
		nonceKey: make([]byte, 32)}
	rand.Read(c.nonceKey)
	h := sha256.Sum256([]byte(c.token))
	c.ath = base64.RawURLEncoding.EncodeToString(h[:])
	if c.key, err = ks.Active(ctx, vci.IssuerRing, keys.ES256); err != nil {
		b.Fatal(err)
	}
	types, err := credential.Demo()
	if err != nil {
		b.Fatal(err)
	}
	for _, t := range types {
		if t.ID == "pid" {
			c.pid = t
		}
	}
	c.claims, err = vci.DemoRegistry{}.Claims(ctx, vci.SourceRequest{TypeID: "pid", CitizenID: "ceiling",
		Citizen: issuer.Citizen{GivenName: "Ana", FamilyName: "García López", Birthdate: "1990-04-12"}, Now: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func (c *credentialCeiling) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/token":
		token := c.token
		p, err := jose.ParseDPoPProof([]byte(r.Header.Get("DPoP")))
		if err != nil || p.HTU != c.url+"/token" || r.ParseForm() != nil || r.PostForm.Get("pre-authorized_code") == "" {
			http.Error(w, "bad token request", http.StatusBadRequest)
			return
		}
		// The bench's wallets all send one code: its offer is read and
		// its tx_code checked, and the redemption is keyed by the proof's
		// jti instead, unique like a real code.
		if c.st != nil {
			if err := c.st.offer(r.Context(), r.PostForm.Get("pre-authorized_code"), r.PostForm.Get("tx_code")); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			tok := ceilingRedemption{code: p.JTI}
			if c.flow {
				token = random.Token(32)
				tok.tokenID = ceilingTokenID(token)
				tok.token, _ = json.Marshal(ceilingToken{Citizen: "citizen-42", JKT: p.JKT, Expires: time.Now().Add(5 * time.Minute).Unix()})
			}
			if err := c.st.redeem.Do(r.Context(), tok); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": token, "token_type": "DPoP", "expires_in": 300})
		return
	case "/nonce":
		nonce := c.nonce
		if c.flow && c.st != nil {
			nonce = random.Token(16)
			nonce += "." + c.nonceMAC(nonce)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"c_nonce": nonce})
		return
	}
	cred, err := c.serve(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]any{"credentials": []map[string]string{{"credential": cred}}, "notification_id": "ceiling"})
}

// serve checks the request's proofs and makes its one credential.
func (c *credentialCeiling) serve(r *http.Request) (string, error) {
	p, err := jose.ParseDPoPProof([]byte(r.Header.Get("DPoP")))
	if err != nil {
		return "", err
	}
	flow := c.flow && c.st != nil
	if flow {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "DPoP ")
		h := sha256.Sum256([]byte(token))
		if !ok || p.HTM != r.Method || p.HTU != c.url || p.ATH != base64.RawURLEncoding.EncodeToString(h[:]) {
			return "", fmt.Errorf("the DPoP proof or token does not match the request")
		}
		if err := c.st.token(r.Context(), ceilingTokenID(token), p.JKT); err != nil {
			return "", err
		}
	} else if p.HTM != r.Method || p.HTU != c.url || p.ATH != c.ath || r.Header.Get("Authorization") != "DPoP "+c.token {
		return "", fmt.Errorf("the DPoP proof or token does not match the request")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, vci.MaxRequest))
	if err != nil {
		return "", err
	}
	var req struct {
		Proofs struct {
			JWT []string `json:"jwt"`
		} `json:"proofs"`
	}
	if err := json.Unmarshal(body, &req); err != nil || len(req.Proofs.JWT) != 1 {
		return "", fmt.Errorf("want one jwt proof")
	}
	kp, err := jose.ParseKeyProof([]byte(req.Proofs.JWT[0]), vci.ProofType, vci.ProofAlgs...)
	if err != nil {
		return "", err
	}
	var cl struct {
		Aud   string `json:"aud"`
		Nonce string `json:"nonce"`
	}
	if err := json.Unmarshal(kp.Payload, &cl); err != nil || cl.Aud != c.issuer || !c.goodNonce(cl.Nonce, flow) {
		return "", fmt.Errorf("the key proof's aud or nonce is wrong")
	}
	place := int64(7)
	if c.st != nil {
		if err := c.st.citizen(r.Context(), "citizen-42"); err != nil {
			return "", err
		}
		place = c.st.place.Add(1)
	}
	now := time.Now()
	cred, _, err := credential.Issue(r.Context(), c.key, credential.Request{Issuer: c.issuer, Type: c.pid, Claims: c.claims,
		Holder: kp.JWK, Now: now, Status: &statuslist.Reference{Index: int(place), URI: c.issuer + "/vci/status/ceiling"}})
	if err != nil || c.st == nil {
		return cred, err
	}
	id := p.JTI
	entry := audit.Entry{Time: now, Actor: audit.Actor{Kind: audit.ActorClient, ID: "demo-machine"}, Action: vci.ActionIssue,
		Subject: "ceiling-citizen", Purpose: "demo-credentials", LegalBasis: "public-task", Categories: c.pid.Categories,
		Outcome: audit.Allowed, RequestID: id}
	is := ceilingIssuance{id: id, citizen: "ceiling", place: place, expires: now.Add(c.pid.Lifetime), entries: []audit.Entry{entry}}
	if flow {
		decision := entry
		decision.Action = "consent.decide"
		is.entries = []audit.Entry{decision, entry}
		h := sha256.Sum256([]byte(cl.Nonce))
		is.nonce = h[:]
	}
	err = c.st.issue.Do(r.Context(), is)
	return cred, err
}

// nonceMAC is the MAC of a nonce the flow's nonce endpoint made.
func (c *credentialCeiling) nonceMAC(n string) string {
	m := hmac.New(sha256.New, c.nonceKey)
	m.Write([]byte(n))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// goodNonce reports whether a key proof's nonce is the fixed one or, in
// the flow with a store, one the nonce endpoint made.
func (c *credentialCeiling) goodNonce(n string, flow bool) bool {
	if !flow {
		return n == c.nonce
	}
	v, mac, ok := strings.Cut(n, ".")
	return ok && hmac.Equal([]byte(mac), []byte(c.nonceMAC(v)))
}

// ceilingTokenID is the key an access token is stored under.
func ceilingTokenID(token string) string {
	h := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// ceilingToken is what the flow stores of an access token.
type ceilingToken struct {
	Citizen string `json:"citizen"`
	JKT     string `json:"jkt"`
	Expires int64  `json:"exp"`
}

// ceilingRedemption is a spent pre-authorized code, with the access
// token it bought in the flow.
type ceilingRedemption struct {
	code, tokenID string
	token         []byte
}

// ceilingStore is the least database work of the flow: the offer read
// by its code's hash and its tx_code checked; the spent pre-authorized
// codes (with their access tokens, in the flow); the token read back; the
// citizen's record read for the claims; and the issuance records with
// their audit entries (and spent nonces, in the flow), each write
// group-committed as the store does it.
type ceilingStore struct {
	d      *db.DB
	log    *floor.Log
	redeem *db.Group[ceilingRedemption]
	issue  *db.Group[ceilingIssuance]
	place  atomic.Int64
}

// offer reads the offer of a pre-authorized code and checks its tx_code.
func (st *ceilingStore) offer(ctx context.Context, code, txCode string) error {
	h := sha256.Sum256([]byte(code))
	var citizen string
	var txHash []byte
	if err := st.d.QueryRowCached(ctx, nil, `SELECT citizen, tx_hash FROM floor_offers WHERE code_hash = $1`, h[:]).Scan(&citizen, &txHash); err != nil {
		return err
	}
	if t := sha256.Sum256([]byte(txCode)); subtle.ConstantTimeCompare(t[:], txHash) != 1 {
		return fmt.Errorf("wrong tx_code")
	}
	return nil
}

// token reads an access token back, and checks that it is live and bound
// to the DPoP proof's key.
func (st *ceilingStore) token(ctx context.Context, id, jkt string) error {
	var data string
	var revoked int
	if err := st.d.QueryRowCached(ctx, nil, `SELECT data, revoked FROM floor_tokens WHERE id = $1`, id).Scan(&data, &revoked); err != nil {
		return err
	}
	var t ceilingToken
	if err := json.Unmarshal([]byte(data), &t); err != nil {
		return err
	}
	if revoked != 0 || t.JKT != jkt || time.Now().Unix() > t.Expires {
		return fmt.Errorf("the access token is not live or not bound to this key")
	}
	return nil
}

// citizen reads a citizen's record.
func (st *ceilingStore) citizen(ctx context.Context, id string) error {
	var data string
	if err := st.d.QueryRowCached(ctx, nil, `SELECT data FROM floor_citizens WHERE id = $1`, id).Scan(&data); err != nil {
		return err
	}
	var c issuer.Citizen
	return json.Unmarshal([]byte(data), &c)
}

type ceilingIssuance struct {
	id, citizen string
	place       int64
	expires     time.Time
	nonce       []byte // the spent nonce's hash, in the flow
	entries     []audit.Entry
}

func newCeilingStore(b *testing.B, d *db.DB) *ceilingStore {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	if err := floor.Create(ctx, d,
		`CREATE TABLE floor_redemptions (code TEXT PRIMARY KEY, spent BIGINT NOT NULL)`,
		`CREATE TABLE floor_issuances (id TEXT PRIMARY KEY, citizen TEXT NOT NULL, place BIGINT NOT NULL UNIQUE, expires BIGINT NOT NULL)`,
		`CREATE TABLE floor_offers (code_hash {BLOB} PRIMARY KEY, citizen TEXT NOT NULL, tx_hash {BLOB} NOT NULL)`,
		`CREATE TABLE floor_citizens (id TEXT PRIMARY KEY, data TEXT NOT NULL)`,
		`CREATE TABLE floor_tokens (id TEXT PRIMARY KEY, data TEXT NOT NULL, revoked INTEGER NOT NULL)`,
		`CREATE TABLE floor_nonces (hash {BLOB} PRIMARY KEY, expires BIGINT NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	// As many offers as a bench round makes, and the bench's citizens.
	var offers, citizens []any
	for i := range 10000 {
		code := fmt.Sprintf("code-%d", i)
		if i == 0 {
			code = "code"
		}
		h, t := sha256.Sum256([]byte(code)), sha256.Sum256([]byte("123456"))
		offers = append(offers, h[:], fmt.Sprintf("citizen-%d", i%100), t[:])
	}
	for i := range 100 {
		data, _ := json.Marshal(issuer.Citizen{GivenName: "Ana", FamilyName: "García López", Birthdate: "1990-04-12"})
		citizens = append(citizens, fmt.Sprintf("citizen-%d", i), string(data))
	}
	if err := d.InTx(ctx, func(tx *sql.Tx) error {
		if err := d.InsertRows(ctx, tx, `INSERT INTO floor_offers (code_hash, citizen, tx_hash) VALUES `, "", 3, offers); err != nil {
			return err
		}
		return d.InsertRows(ctx, tx, `INSERT INTO floor_citizens (id, data) VALUES `, "", 2, citizens)
	}); err != nil {
		b.Fatal(err)
	}
	log, err := floor.NewLog(ctx, d, true)
	if err != nil {
		b.Fatal(err)
	}
	st := &ceilingStore{d: d, log: log}
	st.redeem = db.NewGroup(ctx, 256, func(rs []ceilingRedemption) []error {
		args := make([]any, 0, 2*len(rs))
		var tokens []any
		now := time.Now().UnixMicro()
		for _, r := range rs {
			args = append(args, r.code, now)
			if r.tokenID != "" {
				tokens = append(tokens, r.tokenID, string(r.token), 0)
			}
		}
		return floor.Fill(len(rs), d.InTx(ctx, func(tx *sql.Tx) error {
			if len(tokens) > 0 {
				if err := d.InsertRows(ctx, tx, `INSERT INTO floor_tokens (id, data, revoked) VALUES `, "", 3, tokens); err != nil {
					return err
				}
			}
			return d.InsertRows(ctx, tx, `INSERT INTO floor_redemptions (code, spent) VALUES `, "", 2, args)
		}))
	})
	st.issue = db.NewGroup(ctx, 256, func(is []ceilingIssuance) []error {
		args := make([]any, 0, 4*len(is))
		entries := make([]audit.Entry, 0, 2*len(is))
		var nonces []any
		for _, i := range is {
			args = append(args, i.id, i.citizen, i.place, i.expires.UnixMicro())
			entries = append(entries, i.entries...)
			if i.nonce != nil {
				nonces = append(nonces, i.nonce, i.expires.UnixMicro())
			}
		}
		var done func(bool)
		err := d.InTx(ctx, func(tx *sql.Tx) error {
			if len(nonces) > 0 {
				if err := d.InsertRows(ctx, tx, `INSERT INTO floor_nonces (hash, expires) VALUES `, "", 2, nonces); err != nil {
					return err
				}
			}
			if err := d.InsertRows(ctx, tx, `INSERT INTO floor_issuances (id, citizen, place, expires) VALUES `, "", 4, args); err != nil {
				return err
			}
			var err error
			done, err = log.Append(ctx, tx, entries)
			return err
		})
		if done != nil {
			done(err == nil)
		}
		return floor.Fill(len(is), err)
	})
	return st
}
