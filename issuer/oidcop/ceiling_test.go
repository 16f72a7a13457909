package oidcop

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/floor"
	"github.com/cedula/cedula/internal/bench"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/sqlstore"
)

// BenchmarkTokenCeiling measures what a client_credentials token request
// costs at the least on this machine, to tell a target beyond it from one
// the server misses: an HTTP handler over loopback that does the request's
// parsing (HTTP, form, Basic credentials or the client assertion), its
// crypto (the secret's SHA-256, or the assertion's ES256 verification and
// a replay check; sealing the opaque token with AES-GCM) and one durable
// group write (the access token's row, group-committed as the server does
// it), then answers in JSON — and nothing else: no OpenID library, no
// registration lookup, no audit entry, no middleware. It is loaded like
// `cedula bench token` (64 workers in a closed loop, each request with a
// fresh assertion signed by the generator), and then J the same way, in
// the same run; it reports both rates and their ratio.
//
//	go test -run '^$' -bench TokenCeiling -benchtime 100000x ./issuer/oidcop/
//
// The variant secret+audit adds the least a tamper-evident, durable audit
// entry per token costs: the entry's canonical encoding, its Merkle leaf
// and stored tree hashes (tlog.StoredHashes, the tree kept in memory), and
// one row per entry — index, entry, hashes — inserted in the tokens'
// transaction. No outbox, no leaf-hash index, no search index, no
// checkpoint. 1 − (secret+audit)/secret is then the smallest share of a
// token request an audit entry can take on this machine. The variant
// secret+audit+index adds the indexes the log must keep for what it is
// asked (a DPO's search, an inclusion proof by leaf hash): the entry's
// search row with its four secondary indexes and its leaf-hash key in one
// sorted run per group, all in the tokens' transaction — no indexer of
// its own, no merges of runs.
func BenchmarkTokenCeiling(b *testing.B) {
	for _, dialect := range []db.Dialect{db.SQLite, db.Postgres} {
		for _, auth := range []string{"secret", "secret+audit", "secret+audit+index", "jwt"} {
			b.Run(string(dialect)+"/"+auth, func(b *testing.B) {
				d := dbtest.SQLite(b, sqlstore.Migrations)
				if dialect == db.Postgres {
					d = dbtest.Postgres(b, sqlstore.Migrations)
				}
				benchCeiling(b, d, auth)
			})
		}
	}
}

func benchCeiling(b *testing.B, d *db.DB, auth string) {
	const conc = 64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &ceiling{d: d, secretHash: sha256.Sum256([]byte(ceilingSecret)), seen: map[string]time.Time{}}
	var err error
	if strings.HasPrefix(auth, "secret+audit") {
		if c.log, err = floor.NewLog(ctx, d, auth == "secret+audit+index"); err != nil {
			b.Fatal(err)
		}
		auth = "secret"
	}
	if c.crypto, err = newTokenCrypto(make([]byte, 32)); err != nil {
		b.Fatal(err)
	}
	key, err := jose.NewClientKey(keys.ES256)
	if err != nil {
		b.Fatal(err)
	}
	if c.jwks, err = key.PublicJWKS(); err != nil {
		b.Fatal(err)
	}
	c.group = db.NewGroup(ctx, 256, c.flush)
	srv := httptest.NewServer(http.HandlerFunc(c.token))
	defer srv.Close()
	ref, err := bench.StartReference(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer ref.Close()

	hc := bench.NewHTTPClient(conc)
	request := func(ctx context.Context) error {
		form := url.Values{"grant_type": {"client_credentials"}}
		if auth == "jwt" {
			now := time.Now()
			a, err := key.SignAssertion(jose.ClientAssertion{ClientID: "agency", Audience: []string{srv.URL}, IssuedAt: now, Expiry: now.Add(time.Minute)})
			if err != nil {
				return err
			}
			form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
			form.Set("client_assertion", a)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader(form.Encode()))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if auth == "secret" {
			req.SetBasicAuth("agency", ceilingSecret)
		}
		res, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		var out struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusOK || out.AccessToken == "" {
			return fmt.Errorf("ceiling: status %d, %v", res.StatusCode, err)
		}
		return nil
	}
	if err := request(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	tokens := closedLoop(b, conc, request)
	j := closedLoop(b, conc, ref.Op(hc))
	b.StopTimer()
	b.ReportMetric(tokens, "tokens/s")
	b.ReportMetric(j, "J/s")
	b.ReportMetric(tokens/j, "ceiling/J")
}

// closedLoop runs op b.N times from conc workers, each with one call in
// flight, and returns the calls per second.
func closedLoop(b *testing.B, conc int, op func(context.Context) error) float64 {
	_, elapsed, err := bench.Loop(context.Background(), b.N, conc, func(ctx context.Context, _ int) error { return op(ctx) })
	if err != nil {
		b.Error(err)
	}
	return float64(b.N) / elapsed.Seconds()
}

const ceilingSecret = "the-ceiling-client-secret-of-256-bits-0123456"

// ceiling is the least a token endpoint does.
type ceiling struct {
	d          *db.DB
	group      *db.Group[issuer.AccessToken]
	crypto     tokenCrypto
	secretHash [32]byte
	jwks       []byte
	mu         sync.Mutex
	seen       map[string]time.Time // assertion IDs, for the replay check
	// log: each token's audit entry is appended in the tokens'
	// transaction (the group writer's flush runs one at a time), with
	// the log's indexes for secret+audit+index.
	log *floor.Log
}

func (c *ceiling) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	clientID, ok := c.authenticate(r)
	if !ok {
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		return
	}
	at := issuer.AccessToken{ID: tokenID(), ClientID: clientID, Expiration: time.Now().Add(10 * time.Minute).Truncate(time.Microsecond)}
	if err := c.group.Do(r.Context(), at); err != nil {
		http.Error(w, `{"error":"server_error"}`, http.StatusInternalServerError)
		return
	}
	sealed, err := c.crypto.Encrypt(at.ID + ":" + clientID)
	if err != nil {
		http.Error(w, `{"error":"server_error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": sealed, "token_type": "Bearer", "expires_in": 600})
}

// authenticate checks client_secret_basic or a client assertion's
// signature, issuer, expiry and ID (replay).
func (c *ceiling) authenticate(r *http.Request) (string, bool) {
	if a := r.PostForm.Get("client_assertion"); a != "" {
		payload, err := jose.VerifyWith([]byte(a), func([]byte) ([]byte, error) { return c.jwks, nil }, keys.ES256)
		if err != nil {
			return "", false
		}
		var cl assertionClaims
		if json.Unmarshal(payload, &cl) != nil || cl.Iss == "" || cl.Iss != cl.Sub || cl.Exp == nil || cl.Jti == "" {
			return "", false
		}
		c.mu.Lock()
		_, replayed := c.seen[cl.Iss+"\x00"+cl.Jti]
		c.seen[cl.Iss+"\x00"+cl.Jti] = time.Unix(int64(*cl.Exp), 0)
		c.mu.Unlock()
		return cl.Iss, !replayed
	}
	u, p, ok := r.BasicAuth()
	id, err1 := url.QueryUnescape(u)
	secret, err2 := url.QueryUnescape(p)
	if !ok || err1 != nil || err2 != nil {
		return "", false
	}
	return id, issuer.SecretMatches(c.secretHash[:], secret)
}

// flush writes a group of access tokens in one transaction, as the
// store's group writer does (issuer/sqlstore flushAccess), with the
// tokens' audit entries when the variant asks for them.
func (c *ceiling) flush(ats []issuer.AccessToken) []error {
	ctx := context.Background()
	args := make([]any, 0, 7*len(ats))
	var entries []audit.Entry
	for _, at := range ats {
		data, _ := json.Marshal(at)
		args = append(args, at.ID, at.ClientID, "", "", string(data), at.Expiration.UnixMicro(), 0)
		if c.log != nil {
			entries = append(entries, audit.Entry{Time: time.Now(), Actor: audit.Actor{Kind: audit.ActorClient, ID: at.ClientID},
				Action: issuer.ActionToken, Outcome: audit.Allowed, RequestID: at.ID})
		}
	}
	var done func(bool)
	err := c.d.InTx(ctx, func(tx *sql.Tx) error {
		if err := c.d.InsertRows(ctx, tx,
			`INSERT INTO issuer_access_tokens (id, client_id, citizen_id, refresh_token_id, data, expiration, revoked) VALUES `, "", 7, args); err != nil {
			return err
		}
		if c.log == nil {
			return nil
		}
		var err error
		done, err = c.log.Append(ctx, tx, entries)
		return err
	})
	if done != nil {
		done(err == nil)
	}
	return floor.Fill(len(ats), err)
}
