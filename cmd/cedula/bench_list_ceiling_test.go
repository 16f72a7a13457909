package main

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cedula/cedula/audit"
	auditsqlstore "github.com/cedula/cedula/audit/sqlstore"
	"github.com/cedula/cedula/internal/bench"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/ratelimit"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/internal/statuslist"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/credential"
	"github.com/cedula/cedula/issuer/vci"
	"github.com/cedula/cedula/web"
)

// BenchmarkWalletListCeiling measures what listing a wallet costs at the
// least on this machine, to read `cedula bench wallet --scenarios list`
// against: 100 citizens holding 20 credentials each, and the bench's own
// list code (bench_mobile.go, listScenario) loading it — round robin over
// the citizens, each call a fresh ES256 DPoP proof with ath,
// GET /mobile/v1/credentials?limit=20, the answer decoded and its 20 items
// counted — from vciConcurrency workers, then J the same way in the same
// run; it reports both rates and their ratio.
//
// In, the work a list cannot skip, on the server's edge (internal/httpapi:
// echo with its request IDs, metrics and error handler; its log discarded):
//   - the DPoP proof (RFC 9449 §4.3): one header, its ES256 signature
//     verified, htm, htu (without the query), iat within 60 s, ath against
//     the token, and its jti added to an in-memory replay set;
//   - the access token: opened (AES-256-GCM, as the provider seals opaque
//     tokens), its record read by ID from the database and decoded, and
//     checked — not revoked, not expired, bound to the proof's key, the
//     wallet scope, a citizen's — so a revocation anywhere holds at once;
//   - the citizen's request rate (internal/ratelimit);
//   - the citizen's 20 summaries, newest first, one indexed range read of a
//     table holding the sealed summary beside its owner and arrival time;
//   - each opened with AES-256-GCM under the citizen's data key, from the
//     cache of an audit.Shredder as the server keeps it (the pseudonym
//     that names the key computed once a request), and its JSON decoded —
//     all but the claims, which pass through as they were stored;
//   - display texts picked for the language, each status read from a
//     cached status list, expiry checked, the page and its next cursor
//     encoded in the document's shape (mobile.yaml's CredentialPage) once,
//     its ETag the SHA-256 of those bytes.
//
// Out, what the server does besides: request validation against the
// document (kin-openapi), decoding the claims into maps and encoding them
// again, the ETag's own encoding, re-reading summaries past the page,
// per-credential key clones and pseudonyms, logging, and any other
// writer: in variants sqlite and postgres nothing else touches the
// database, so SQLite's page cache stays warm. Variant sqlite+writes adds
// one small committed write every 50 ms, as the server's background work
// (replica leases, checkpoints, audit indexing) makes, which in WAL mode
// drops every reader connection's page cache.
//
//	go test -run '^$' -bench WalletListCeiling -benchtime 20000x ./cmd/cedula/
func BenchmarkWalletListCeiling(b *testing.B) {
	for _, variant := range []string{"sqlite", "sqlite+writes", "postgres", "sqlite+prerendered"} {
		b.Run(variant, func(b *testing.B) {
			var d *db.DB
			if strings.HasPrefix(variant, "sqlite") {
				d = dbtest.SQLite(b, auditsqlstore.Migrations)
			} else {
				d = dbtest.Postgres(b, auditsqlstore.Migrations)
			}
			c := newListCeiling(b, d)
			c.prerendered = variant == "sqlite+prerendered"
			if variant == "sqlite+writes" {
				c.writeEvery(b, 50*time.Millisecond)
			}
			srv := httptest.NewServer(c.edge)
			b.Cleanup(srv.Close)
			c.url = srv.URL + "/mobile/v1/credentials"
			ref, err := bench.StartReference(b.Context())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { ref.Close() })
			hc := bench.NewHTTPClient(vciConcurrency)
			wb := &walletBench{o: benchWalletOptions{held: listCeilingHeld}, hc: hc, mobile: srv.URL + "/mobile/v1"}
			if wb.apps, err = c.citizens(b.Context()); err != nil {
				b.Fatal(err)
			}
			measureCeiling(b, ref, hc, "lists/s", wb.listScenario().op)
		})
	}
}

// The ceiling's wallets: listCeilingCitizens citizens holding
// listCeilingHeld credentials each, as the bench sets them up.
const (
	listCeilingCitizens = 100
	listCeilingHeld     = 20
)

// listCeiling is the least a list endpoint does.
type listCeiling struct {
	url     string
	d       *db.DB
	edge    *httpapi.Edge
	tokens  cipher.AEAD
	shred   *audit.Shredder
	pseud   *audit.Pseudonyms
	limit   *ratelimit.Limiter
	status  *statuslist.List
	statusU string
	summary []byte // one summary's JSON, as the wallet seals it
	// prerendered stores each credential as its item's JSON in the
	// request's language instead, with its status place and expiry in
	// the clear, so that a list decodes and encodes nothing.
	prerendered bool

	mu    sync.Mutex
	seen  map[string]time.Time // DPoP proofs' jkt and jti, until expiry
	sweep time.Time
}

// ceilingSummary is a held credential's summary in the wallet's shape
// (wallet/service.go, summary), claims left undecoded.
type ceilingSummary struct {
	Issuer          string                `json:"issuer"`
	Iss             string                `json:"iss"`
	ConfigurationID string                `json:"configuration_id"`
	Format          string                `json:"format"`
	VCT             string                `json:"vct"`
	IssuerDisplay   []ceilingDisplay      `json:"issuer_display,omitempty"`
	Display         []ceilingDisplay      `json:"display,omitempty"`
	ClaimsMeta      []ceilingClaim        `json:"claims_meta,omitempty"`
	Claims          json.RawMessage       `json:"claims"`
	IssuedAt        time.Time             `json:"iat"`
	ExpiresAt       time.Time             `json:"exp"`
	Status          *statuslist.Reference `json:"status,omitempty"`
	KeyMode         string                `json:"key_mode"`
}

type ceilingDisplay struct {
	Name        string `json:"name"`
	Locale      string `json:"locale,omitempty"`
	Description string `json:"description,omitempty"`
}

type ceilingClaim struct {
	Path      []any            `json:"path"`
	Mandatory bool             `json:"mandatory,omitempty"`
	Display   []ceilingDisplay `json:"display,omitempty"`
}

// ceilingItem is one credential in mobile.yaml's shape (Credential).
type ceilingItem struct {
	ID              string             `json:"id"`
	Issuer          string             `json:"issuer"`
	IssuerName      string             `json:"issuer_name"`
	ConfigurationID string             `json:"configuration_id"`
	Format          string             `json:"format"`
	VCT             string             `json:"vct"`
	Display         ceilingDisplay     `json:"display"`
	Claims          json.RawMessage    `json:"claims"`
	ClaimInfo       []ceilingClaimInfo `json:"claim_info"`
	Status          string             `json:"status,omitempty"`
	StatusCheckedAt *time.Time         `json:"status_checked_at,omitempty"`
	IssuedAt        time.Time          `json:"issued_at"`
	ExpiresAt       *time.Time         `json:"expires_at,omitempty"`
	ReceivedAt      time.Time          `json:"received_at"`
	KeyMode         string             `json:"key_mode"`
}

type ceilingClaimInfo struct {
	Path      []any  `json:"path"`
	Label     string `json:"label,omitempty"`
	Mandatory bool   `json:"mandatory,omitempty"`
}

func newListCeiling(b *testing.B, d *db.DB) *listCeiling {
	ctx := b.Context()
	ks, kek := ceilingKeystore(b)
	w, err := keys.WrapperOf(ks)
	if err != nil {
		b.Fatal(err)
	}
	c := &listCeiling{d: d, seen: map[string]time.Time{}, pseud: audit.NewPseudonyms(kek),
		limit: ratelimit.New(ratelimit.Rate{N: 10_000_000, Per: time.Minute}, time.Now), statusU: "https://issuer.ceiling.invalid/vci/status/1"}
	if c.shred, err = audit.NewShredder(audit.ShredderConfig{Keys: auditsqlstore.NewSubjectKeys(d), Wrapper: w}); err != nil {
		b.Fatal(err)
	}
	block, _ := aes.NewCipher(kek)
	c.tokens, _ = cipher.NewGCM(block)
	if c.status, err = statuslist.New(2, 1<<16); err != nil {
		b.Fatal(err)
	}
	if c.summary, err = ceilingSummaryJSON(ctx, c.statusU); err != nil {
		b.Fatal(err)
	}
	if err := listCeilingSchema(ctx, d); err != nil {
		b.Fatal(err)
	}
	c.edge = httpapi.New(httpapi.Config{BaseURL: "https://ceiling.invalid", Logger: slog.New(slog.DiscardHandler)})
	c.edge.Echo().GET("/mobile/v1/credentials", c.list)
	return c
}

// ceilingSummaryJSON is the summary of a demo PID, as the wallet keeps it:
// the claims the demo registry gives, the type's display texts and claim
// metadata, its dates and its place in a status list.
func ceilingSummaryJSON(ctx context.Context, statusURI string) ([]byte, error) {
	types, err := credential.Demo()
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(types, func(t credential.Type) bool { return t.ID == "pid" })
	if i < 0 {
		return nil, fmt.Errorf("no demo pid type")
	}
	t := types[i]
	now := time.Now()
	claims, err := vci.DemoRegistry{}.Claims(ctx, vci.SourceRequest{TypeID: "pid", CitizenID: "ceiling",
		Citizen: issuer.Citizen{GivenName: "Ana", FamilyName: "García López", Birthdate: "1990-04-12"}, Now: now})
	if err != nil {
		return nil, err
	}
	cj, err := json.Marshal(claims)
	if err != nil {
		return nil, err
	}
	s := ceilingSummary{Issuer: "https://issuer.ceiling.invalid", Iss: "https://issuer.ceiling.invalid", ConfigurationID: t.ID,
		Format: "dc+sd-jwt", VCT: t.VCT, Claims: cj, IssuedAt: now.Truncate(time.Second), ExpiresAt: now.Add(t.Lifetime).Truncate(time.Second),
		Status: &statuslist.Reference{Index: 7, URI: statusURI}, KeyMode: "sealed",
		IssuerDisplay: []ceilingDisplay{{Name: "Agencia Demo", Locale: "es"}, {Name: "Demo Agency", Locale: "en"}}}
	for _, d := range t.Display {
		s.Display = append(s.Display, ceilingDisplay{Name: d.Name, Locale: d.Locale, Description: d.Description})
	}
	for _, cl := range t.Claims {
		m := ceilingClaim{Path: cl.Path, Mandatory: cl.Mandatory}
		for _, d := range cl.Display {
			m.Display = append(m.Display, ceilingDisplay{Name: d.Label, Locale: d.Locale, Description: d.Description})
		}
		s.ClaimsMeta = append(s.ClaimsMeta, m)
	}
	return json.Marshal(s)
}

func listCeilingSchema(ctx context.Context, d *db.DB) error {
	_, err := d.ExecContext(ctx, db.Schema(`CREATE TABLE floor_tokens (id TEXT PRIMARY KEY, data TEXT NOT NULL, revoked INTEGER NOT NULL)`, d.Dialect))
	if err == nil {
		_, err = d.ExecContext(ctx, db.Schema(`CREATE TABLE floor_summaries (id TEXT PRIMARY KEY, citizen_id TEXT NOT NULL,
			received BIGINT NOT NULL, status_idx BIGINT NOT NULL, expires BIGINT NOT NULL, summary {BLOB} NOT NULL)`, d.Dialect))
	}
	if err == nil {
		_, err = d.ExecContext(ctx, `CREATE INDEX floor_summaries_citizen ON floor_summaries (citizen_id, received, id)`)
	}
	return err
}

// citizens stores the citizens' tokens and sealed summaries, their
// credentials arriving interleaved as the bench's set-up receives them,
// and returns their apps.
func (c *listCeiling) citizens(ctx context.Context) ([]*citizenApp, error) {
	apps := make([]*citizenApp, listCeilingCitizens)
	var tokens []any
	for i := range apps {
		key, err := jose.NewClientKey(keys.ES256)
		if err != nil {
			return nil, err
		}
		jkt, err := key.Thumbprint()
		if err != nil {
			return nil, err
		}
		at := issuer.AccessToken{ID: fmt.Sprintf("at-%d", i), ClientID: "wallet-app", Subject: fmt.Sprintf("sub-%d", i),
			CitizenID: fmt.Sprintf("citizen-%d", i), Audience: []string{"wallet-app"}, Scopes: []string{"openid", scopes.Wallet},
			Expiration: time.Now().Add(time.Hour), FamilyID: fmt.Sprintf("ar-%d", i), JKT: jkt}
		data, _ := json.Marshal(at)
		tokens = append(tokens, at.ID, string(data), 0)
		nonce := make([]byte, c.tokens.NonceSize())
		rand.Read(nonce)
		tok := base64.RawURLEncoding.EncodeToString(c.tokens.Seal(nonce, nonce, []byte(at.ID+":"+at.Subject), nil))
		h := sha256.Sum256([]byte(tok))
		apps[i] = &citizenApp{id: at.CitizenID, sub: at.Subject, session: walletToken{token: tok, key: key},
			ath: base64.RawURLEncoding.EncodeToString(h[:])}
	}
	var sums []any
	start := time.Now().Add(-time.Hour)
	for n := range listCeilingHeld {
		for i := range apps {
			citizen := apps[i].id
			id := fmt.Sprintf("wc-%d-%d", i, n)
			received := start.Add(time.Duration(n*len(apps)+i) * time.Millisecond).UnixMicro()
			plain := c.summary
			var s ceilingSummary
			if err := json.Unmarshal(c.summary, &s); err != nil {
				return nil, err
			}
			if c.prerendered {
				it := c.item(id, received, &s, "es", time.Now())
				it.Status, it.StatusCheckedAt = "", nil
				plain, _ = json.Marshal(it)
			}
			sealed, err := c.shred.SealData(ctx, c.pseud.Of(citizen), "wallet/summary/"+id, plain)
			if err != nil {
				return nil, err
			}
			sums = append(sums, id, citizen, received, s.Status.Index, s.ExpiresAt.UnixMicro(), sealed)
		}
	}
	err := c.d.InTx(ctx, func(tx *sql.Tx) error {
		if err := c.d.InsertRows(ctx, tx, `INSERT INTO floor_tokens (id, data, revoked) VALUES `, "", 3, tokens); err != nil {
			return err
		}
		for i := 0; i < len(sums); i += 6 * 200 {
			if err := c.d.InsertRows(ctx, tx, `INSERT INTO floor_summaries (id, citizen_id, received, status_idx, expires, summary) VALUES `, "", 6,
				sums[i:min(i+6*200, len(sums))]); err != nil {
				return err
			}
		}
		return nil
	})
	return apps, err
}

// writeEvery commits one small row every d until the benchmark ends.
func (c *listCeiling) writeEvery(b *testing.B, d time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	b.Cleanup(func() { cancel(); <-done })
	if _, err := c.d.ExecContext(ctx, `CREATE TABLE floor_beats (n BIGINT NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	go func() {
		defer close(done)
		t := time.NewTicker(d)
		defer t.Stop()
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			c.d.InTx(ctx, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO floor_beats (n) VALUES ($1)`, n)
				return err
			})
		}
	}()
}

func (c *listCeiling) list(e echo.Context) error {
	r := e.Request()
	at, err := c.authenticate(r)
	if err != nil {
		return httpapi.Unauthorized(err.Error(), `DPoP error="invalid_token"`)
	}
	if !c.limit.Allow(at.CitizenID) {
		return &httpapi.Error{Status: http.StatusTooManyRequests, Slug: "rate-limited", Title: "Too many requests"}
	}
	limit := 20
	if s := r.URL.Query().Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > maxListLimit {
			return httpapi.BadRequest("limit")
		}
	}
	lang := web.Negotiate(r)
	ctx := r.Context()
	rows, err := c.d.QueryCached(ctx, nil, `SELECT id, received, status_idx, expires, summary FROM floor_summaries
		WHERE citizen_id = $1 ORDER BY received DESC, id LIMIT $2`, at.CitizenID, limit+1)
	if err != nil {
		return err
	}
	found := make([]ceilingRow, 0, limit+1)
	for rows.Next() {
		var r ceilingRow
		if err := rows.Scan(&r.id, &r.received, &r.place, &r.expires, &r.sealed); err != nil {
			rows.Close()
			return err
		}
		found = append(found, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	subject := c.pseud.Of(at.CitizenID)
	now := time.Now()
	page := struct {
		Items      []ceilingItem `json:"items"`
		NextCursor *string       `json:"next_cursor,omitempty"`
	}{Items: make([]ceilingItem, 0, limit)}
	if len(found) > limit {
		found = found[:limit]
		last := found[limit-1]
		cur := base64.RawURLEncoding.EncodeToString([]byte("1:" + strconv.FormatInt(last.received, 10) + ":" + last.id))
		page.NextCursor = &cur
	}
	if c.prerendered {
		return c.spliced(e, subject, found, page.NextCursor, now)
	}
	for _, r := range found {
		plain, err := c.shred.OpenData(ctx, subject, "wallet/summary/"+r.id, r.sealed)
		if err != nil {
			return err
		}
		var s ceilingSummary
		if err := json.Unmarshal(plain, &s); err != nil {
			return err
		}
		page.Items = append(page.Items, c.item(r.id, r.received, &s, lang, now))
	}
	body, err := json.Marshal(page)
	if err != nil {
		return err
	}
	h := sha256.Sum256(body)
	e.Response().Header().Set("ETag", `"`+base64.RawURLEncoding.EncodeToString(h[:18])+`"`)
	return e.Blob(http.StatusOK, "application/json", body)
}

// ceilingRow is a credential's row: its summary sealed, its status place
// and expiry (used by the prerendered variant alone).
type ceilingRow struct {
	id                       string
	received, place, expires int64
	sealed                   []byte
}

// spliced answers the page from prerendered items: each opened and
// written as it is, its status added.
func (c *listCeiling) spliced(e echo.Context, subject string, found []ceilingRow, next *string, now time.Time) error {
	ctx := e.Request().Context()
	body := make([]byte, 0, 64<<10)
	body = append(body, `{"items":[`...)
	checked, _ := json.Marshal(now.Truncate(time.Minute).UTC())
	for i, r := range found {
		plain, err := c.shred.OpenData(ctx, subject, "wallet/summary/"+r.id, r.sealed)
		if err != nil {
			return err
		}
		st := "valid"
		if v, err := c.status.Get(int(r.place)); err != nil || v != statuslist.Valid {
			st = "unknown"
		}
		if !now.Before(time.UnixMicro(r.expires)) {
			st = "expired"
		}
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, plain[:len(plain)-1]...)
		body = append(body, `,"status":"`+st+`","status_checked_at":`...)
		body = append(body, checked...)
		body = append(body, '}')
	}
	body = append(body, ']')
	if next != nil {
		body = append(body, `,"next_cursor":`...)
		body = strconv.AppendQuote(body, *next)
	}
	body = append(body, '}')
	h := sha256.Sum256(body)
	e.Response().Header().Set("ETag", `"`+base64.RawURLEncoding.EncodeToString(h[:18])+`"`)
	return e.Blob(http.StatusOK, "application/json", body)
}

// item is a summary in the document's shape, for lang.
func (c *listCeiling) item(id string, received int64, s *ceilingSummary, lang string, now time.Time) ceilingItem {
	pick := func(ds []ceilingDisplay) ceilingDisplay {
		for _, d := range ds {
			if d.Locale == lang {
				return d
			}
		}
		if len(ds) > 0 {
			return ds[0]
		}
		return ceilingDisplay{}
	}
	it := ceilingItem{ID: id, Issuer: s.Issuer, IssuerName: pick(s.IssuerDisplay).Name, ConfigurationID: s.ConfigurationID,
		Format: s.Format, VCT: s.VCT, Display: pick(s.Display), Claims: s.Claims, Status: "valid", IssuedAt: s.IssuedAt.UTC(),
		ReceivedAt: time.UnixMicro(received).UTC(), KeyMode: s.KeyMode, ClaimInfo: make([]ceilingClaimInfo, 0, len(s.ClaimsMeta))}
	for _, m := range s.ClaimsMeta {
		it.ClaimInfo = append(it.ClaimInfo, ceilingClaimInfo{Path: m.Path, Label: pick(m.Display).Name, Mandatory: m.Mandatory})
	}
	if s.Status != nil && s.Status.URI == c.statusU {
		checked := now.Truncate(time.Minute)
		it.StatusCheckedAt = &checked
		if v, err := c.status.Get(s.Status.Index); err != nil || v != statuslist.Valid {
			it.Status = "unknown"
		}
	}
	if !s.ExpiresAt.IsZero() {
		exp := s.ExpiresAt.UTC()
		it.ExpiresAt = &exp
		if !now.Before(exp) {
			it.Status = "expired"
		}
	}
	return it
}

// authenticate checks the request's DPoP proof and access token and
// returns the token's record.
func (c *listCeiling) authenticate(r *http.Request) (issuer.AccessToken, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "DPoP ")
	proofs := r.Header.Values("DPoP")
	if !ok || len(proofs) != 1 {
		return issuer.AccessToken{}, fmt.Errorf("a DPoP-bound token and one proof are required")
	}
	p, err := jose.ParseDPoPProof([]byte(proofs[0]))
	if err != nil {
		return issuer.AccessToken{}, err
	}
	now := time.Now()
	h := sha256.Sum256([]byte(tok))
	switch {
	case p.HTM != r.Method || p.HTU != c.url:
		return issuer.AccessToken{}, fmt.Errorf("htm or htu")
	case p.IAT.Before(now.Add(-time.Minute)) || p.IAT.After(now.Add(time.Minute)):
		return issuer.AccessToken{}, fmt.Errorf("iat")
	case p.ATH != base64.RawURLEncoding.EncodeToString(h[:]):
		return issuer.AccessToken{}, fmt.Errorf("ath")
	}
	c.mu.Lock()
	if now.Sub(c.sweep) > time.Minute {
		maps.DeleteFunc(c.seen, func(_ string, exp time.Time) bool { return now.After(exp) })
		c.sweep = now
	}
	id := p.JKT + "\x00" + p.JTI
	_, replayed := c.seen[id]
	c.seen[id] = p.IAT.Add(2 * time.Minute)
	c.mu.Unlock()
	if replayed {
		return issuer.AccessToken{}, fmt.Errorf("jti replayed")
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) < c.tokens.NonceSize()+c.tokens.Overhead() {
		return issuer.AccessToken{}, fmt.Errorf("token")
	}
	n := c.tokens.NonceSize()
	plain, err := c.tokens.Open(nil, raw[:n], raw[n:], nil)
	if err != nil {
		return issuer.AccessToken{}, fmt.Errorf("token")
	}
	tokenID, _, _ := strings.Cut(string(plain), ":")
	var data string
	var revoked int
	if err := c.d.QueryRowCached(r.Context(), nil, `SELECT data, revoked FROM floor_tokens WHERE id = $1`, tokenID).Scan(&data, &revoked); err != nil {
		return issuer.AccessToken{}, err
	}
	var at issuer.AccessToken
	if err := json.Unmarshal([]byte(data), &at); err != nil {
		return at, err
	}
	switch {
	case revoked != 0 || !now.Before(at.Expiration):
		return at, fmt.Errorf("token no longer active")
	case at.JKT != p.JKT:
		return at, fmt.Errorf("token not bound to the proof's key")
	case !slices.Contains(at.Scopes, scopes.Wallet) || at.CitizenID == "":
		return at, fmt.Errorf("not a wallet token")
	}
	return at, nil
}
