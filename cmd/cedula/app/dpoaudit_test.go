package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/auditapi"
	"github.com/cedula/cedula/audit/auditclient"
	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/issuer"
)

// dpo registers a client that may search the audit log and returns a token.
func (e *env) dpo(id string) string {
	e.t.Helper()
	if err := e.s.Store.PutClient(context.Background(), issuer.Client{ID: id, Name: id, GrantTypes: []string{issuer.GrantClientCredentials},
		AuthMethod: issuer.AuthPrivateKeyJWT, JWKS: mustJWKS(e.t, e), SubjectType: issuer.SubjectPairwise, Scopes: []string{app.DPOScope}}); err != nil {
		e.t.Fatal(err)
	}
	return e.token(id, app.DPOScope)
}

func (e *env) get(path, token string) (int, []byte, http.Header) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.url+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b, res.Header
}

func (e *env) dpoSearch(token string, v url.Values) (int, auditapi.Page, string) {
	e.t.Helper()
	status, b, _ := e.get("/dpo/audit/search?"+v.Encode(), token)
	var out auditapi.Page
	if status == 200 {
		if err := json.Unmarshal(b, &out); err != nil {
			e.t.Fatalf("search: %v in %s", err, b)
		}
	}
	return status, out, string(b)
}

// TestDPOAudit: a DPO searches the log by each filter and combinations,
// page by page, each entry with a proof against the checkpoint and its
// details sealed; bad parameters are 400, other scopes 403; the DPO's own
// searches and exports are in the log; an export verifies, and fails to
// once any byte of it changes.
func TestDPOAudit(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.agency("tax")
	e.agency("health")
	ana, beto := e.citizen("Ana"), e.citizen("Beto")
	tok := map[string]string{"tax": e.token("tax", app.AuditWriteScope), "health": e.token("health", app.AuditWriteScope)}
	for i := range 12 {
		agency := []string{"tax", "health"}[i%2]
		who := []string{ana, beto}[i%3%2]
		sub := e.loggedInAt(agency, who)
		body := fmt.Sprintf(`{"action":%q,"sub":%q,"purpose":%q,"legal_basis":"public-task","categories":["income"],"outcome":%q,"details":{"secret":"plain-%d"}}`,
			[]string{"x.read", "x.write", "x.delete"}[i%3], sub, []string{"dpv:ServiceProvision", "dpv:FraudPreventionAndDetection"}[i%4/2],
			[]string{"allowed", "denied", "failed", "allowed"}[i%4], i)
		if res, out := e.do("POST", "/admin/audit", tok[agency], body); res.StatusCode != 201 {
			t.Fatalf("append: %d %v", res.StatusCode, out)
		}
		time.Sleep(2 * time.Millisecond) // distinct times for the range filters
	}
	for i := range 2 {
		if _, err := e.s.Audit.Append(ctx, audit.Entry{Actor: audit.Actor{Kind: audit.ActorSystem, ID: "housekeeping"}, Action: "x.purge",
			Purpose: "dpv:ServiceProvision", Outcome: audit.Allowed, RequestID: fmt.Sprint("sys-", i)}); err != nil {
			t.Fatal(err)
		}
	}
	dpoTok := e.dpo("dpo-office")
	cp, err := e.s.Checkpointer.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := e.s.Audit.Entries(ctx, 0, cp.Size)
	if err != nil {
		t.Fatal(err)
	}
	entries := make([]audit.Entry, len(recs))
	for i, r := range recs {
		if entries[i], err = r.Entry(); err != nil {
			t.Fatal(err)
		}
	}
	anaPsn := e.s.AuditSubject(ana)
	mid, late := entries[len(entries)/3].Time, entries[len(entries)*2/3].Time

	// search pages through q with limit and returns every entry, checking
	// proofs, order and sealed details.
	// Entries at or beyond upTo (the DPO's own, covered by later
	// checkpoints) are left out.
	search := func(v url.Values, limit int, upTo int64) []auditapi.ViewEntry {
		t.Helper()
		var all []auditapi.ViewEntry
		v = maps(v)
		v.Set("limit", fmt.Sprint(limit))
		for pages := 0; ; pages++ {
			if pages > int(upTo)+1 {
				t.Fatal("more pages than entries")
			}
			status, out, body := e.dpoSearch(dpoTok, v)
			if status != 200 {
				t.Fatalf("search %v: %d %s", v, status, body)
			}
			if out.Size < upTo || len(out.Entries) > limit {
				t.Fatalf("search: checkpoint size %d (want ≥ %d), %d entries with limit %d", out.Size, upTo, len(out.Entries), limit)
			}
			for _, got := range out.Entries {
				if got.Index >= upTo {
					continue
				}
				if got.Index < int64(len(recs)) && got.LeafHash != recs[got.Index].LeafHash() {
					t.Errorf("entry %d: leaf hash differs", got.Index)
				}
				if err := audit.CheckInclusion(got.Proof, got.Index, out.Size, got.LeafHash, out.Root); err != nil {
					t.Errorf("entry %d: inclusion proof: %v", got.Index, err)
				}
				if got.Index < int64(len(entries)) && len(entries[got.Index].Details) > 0 && string(got.Details) != `"sealed"` {
					t.Errorf("entry %d: details %s, want \"sealed\"", got.Index, got.Details)
				}
				if len(all) > 0 && got.Index >= all[len(all)-1].Index {
					t.Errorf("not newest first: %d after %d", got.Index, all[len(all)-1].Index)
				}
				all = append(all, got)
			}
			if out.Next == 0 {
				break
			}
			v.Set("after", fmt.Sprint(out.Next))
		}
		return all
	}
	for _, c := range []struct {
		v url.Values
		q audit.Query
	}{
		{url.Values{}, audit.Query{}},
		{url.Values{"actor_kind": {"client"}}, audit.Query{ActorKind: audit.ActorClient}},
		{url.Values{"actor": {"tax"}}, audit.Query{ActorID: "tax"}},
		{url.Values{"action": {"x.write"}}, audit.Query{Action: "x.write"}},
		{url.Values{"purpose": {"dpv:FraudPreventionAndDetection"}}, audit.Query{Purpose: "dpv:FraudPreventionAndDetection"}},
		{url.Values{"subject": {anaPsn}}, audit.Query{Subject: anaPsn}},
		{url.Values{"outcome": {"denied"}}, audit.Query{Outcome: audit.Denied}},
		{url.Values{"from": {mid.Format(time.RFC3339Nano)}}, audit.Query{From: mid}},
		{url.Values{"to": {mid.Format(time.RFC3339Nano)}}, audit.Query{To: mid}},
		{url.Values{"from": {mid.Format(time.RFC3339Nano)}, "to": {late.Format(time.RFC3339Nano)}}, audit.Query{From: mid, To: late}},
		{url.Values{"actor": {"health"}, "subject": {anaPsn}, "outcome": {"allowed"}}, audit.Query{ActorID: "health", Subject: anaPsn, Outcome: audit.Allowed}},
	} {
		var want []int64
		for i := len(entries) - 1; i >= 0; i-- {
			if c.q.Matches(entries[i]) {
				want = append(want, int64(i))
			}
		}
		if len(want) == 0 || (len(c.v) > 0 && len(want) == len(entries)) {
			t.Fatalf("filter %v selects %d of %d entries: the test data should make it narrow", c.v, len(want), len(entries))
		}
		for _, limit := range []int{2, 200} {
			var got []int64
			for _, g := range search(c.v, limit, cp.Size) {
				got = append(got, g.Index)
			}
			if !slices.Equal(got, want) {
				t.Errorf("search %v limit %d: %v, want %v", c.v, limit, got, want)
			}
		}
	}
	// Details stay sealed: no plaintext in any answer.
	if _, _, body := e.dpoSearch(dpoTok, url.Values{"limit": {"200"}}); strings.Contains(body, "plain-") {
		t.Error("a search shows sealed details in clear")
	}

	// Bad parameters: 400 problem JSON.
	for _, q := range []string{"from=yesterday", "to=2025-13-01T00:00:00Z", "from=2025-02-01T00:00:00Z&to=2025-01-01T00:00:00Z",
		"limit=0", "limit=201", "limit=x", "after=-1", "after=0", "actor_kind=robot", "outcome=maybe", "action=" + strings.Repeat("a", 1025)} {
		status, body, hdr := e.get("/dpo/audit/search?"+q, dpoTok)
		if status != 400 || !strings.Contains(hdr.Get("Content-Type"), "problem+json") {
			t.Errorf("search ?%.40s: %d %s, want a 400 problem", q, status, body)
		}
	}
	if status, body, _ := e.get("/dpo/audit/export?limit=5", dpoTok); status != 400 {
		t.Errorf("export ?limit=5: %d %s, want 400", status, body)
	}
	// Scope: another scope 403, no token 401.
	admin := e.token("registrar", app.AdminScope)
	for _, p := range []string{"/dpo/audit/search", "/dpo/audit/export"} {
		if status, body, _ := e.get(p, admin); status != 403 {
			t.Errorf("%s with the admin scope: %d %s, want 403", p, status, body)
		}
		if status, body, _ := e.get(p, tok["tax"]); status != 403 {
			t.Errorf("%s with the audit-write scope: %d %s, want 403", p, status, body)
		}
		if status, _, _ := e.get(p, ""); status != 401 {
			t.Errorf("%s without a token: %d, want 401", p, status)
		}
	}

	// Export, filtered by subject: verifies, and has exactly the matching entries.
	status, body, hdr := e.get("/dpo/audit/export?"+url.Values{"subject": {anaPsn}}.Encode(), dpoTok)
	if status != 200 || hdr.Get("Content-Type") != "application/jsonl" {
		t.Fatalf("export: %d %s %s", status, hdr.Get("Content-Type"), body)
	}
	kstatus, jwks, _ := e.get("/dpo/audit/export-keys", "")
	if kstatus != 200 {
		t.Fatalf("export keys: %d %s", kstatus, jwks)
	}
	xcp, xs, err := auditclient.VerifyExport(body, jwks)
	if err != nil {
		t.Fatalf("export does not verify: %v\n%s", err, body)
	}
	if xcp.Size < cp.Size || !strings.HasPrefix(xcp.Checkpoint, cp.Origin+"\n") {
		t.Errorf("export checkpoint %d %q", xcp.Size, xcp.Checkpoint)
	}
	all, err := e.s.Audit.Entries(ctx, 0, xcp.Size)
	if err != nil {
		t.Fatal(err)
	}
	var want, got []int64
	for i := len(all) - 1; i >= 0; i-- {
		if x, _ := all[i].Entry(); x.Subject == anaPsn {
			want = append(want, int64(i))
		}
	}
	for _, x := range xs {
		got = append(got, x.Index)
		if string(x.Data) != string(all[x.Index].Data) {
			t.Errorf("export entry %d: data differs from the log", x.Index)
		}
	}
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("export: entries %v, want %v", got, want)
	}
	// Any one byte changed — checkpoint, an entry, the signature — fails.
	for _, pos := range []int{10, len(body) / 2, len(body) - 20} {
		bad := slices.Clone(body)
		bad[pos] ^= 0x01
		if _, _, err := auditclient.VerifyExport(bad, jwks); err == nil {
			t.Errorf("export with byte %d changed verifies", pos)
		}
	}
	// Signed by another key: after a rotation, a new export verifies with
	// the new key set only.
	if _, err := e.s.Keys.Rotate(ctx, auditapi.ExportRing, keys.ES256); err != nil {
		t.Fatal(err)
	}
	_, body2, _ := e.get("/dpo/audit/export?action=x.read", dpoTok)
	if _, _, err := auditclient.VerifyExport(body2, jwks); err == nil {
		t.Error("an export signed by a new key verifies with the old key set")
	}
	_, jwks2, _ := e.get("/dpo/audit/export-keys", "")
	if _, _, err := auditclient.VerifyExport(body2, jwks2); err != nil {
		t.Errorf("export after rotation: %v", err)
	}
	if _, _, err := auditclient.VerifyExport(body, jwks2); err != nil {
		t.Errorf("an export signed before the rotation no longer verifies: %v", err)
	}

	// The DPO's own searches and exports are in the log.
	cp2, err := e.s.Checkpointer.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	own := search(url.Values{"actor_kind": {"dpo"}, "actor": {"dpo-office"}, "purpose": {"dpv:LegalCompliance"}}, 200, cp2.Size)
	var searches, exports, aboutAna int
	for _, x := range own {
		switch x.Action {
		case "audit.search":
			searches++
		case "audit.export":
			exports++
		}
		if x.Subject == anaPsn {
			aboutAna++
			if slices.ContainsFunc(x.Categories, func(c string) bool { return strings.HasPrefix(c, "query:subject") }) {
				t.Errorf("entry %d repeats the subject in its categories: %v", x.Index, x.Categories)
			}
		}
		if !slices.Contains(x.Categories, "audit-log") || x.Outcome != "allowed" || x.Actor.Kind != "dpo" {
			t.Errorf("DPO entry %d: %+v", x.Index, x)
		}
	}
	if searches < 20 || exports != 2 || aboutAna < 3 {
		t.Errorf("the log holds %d searches, %d exports, %d about Ana by the DPO; want ≥ 20, 2 (the bad ones are not audited), ≥ 3", searches, exports, aboutAna)
	}
	// A search with an action filter records it, without any subject.
	e.dpoSearch(dpoTok, url.Values{"action": {"x.delete"}})
	cp3, err := e.s.Checkpointer.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last := search(url.Values{"action": {"audit.search"}}, 1, cp3.Size)
	if len(last) == 0 || last[0].Subject != "" || !slices.Equal(last[0].Categories, []string{"audit-log", "query:action=x.delete"}) {
		t.Errorf("last search entry: %+v", last)
	}
	// Ana sees in her own view that the DPO searched her entries.
	if st, out, b := e.myAudit(e.session(ana), "?limit=200"); st != 200 || !slices.ContainsFunc(out.Entries, func(x auditapi.ViewEntry) bool {
		return x.Actor.Kind == "dpo" && x.Action == "audit.search"
	}) {
		t.Errorf("Ana's view lacks the DPO's search: %d %s", st, b)
	}
}

// maps copies v.
func maps(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}
