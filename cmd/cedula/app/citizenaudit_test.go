package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/auditapi"
	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/oidcop"
	"github.com/cedula/cedula/issuer/pages"
)

// citizen creates a citizen and returns her ID.
func (e *env) citizen(name string) string {
	e.t.Helper()
	c := issuer.Citizen{ID: issuer.NewCitizenID(), GivenName: name, FamilyName: "Test", Birthdate: "1980-01-02", Created: time.Now()}
	if err := e.s.Store.CreateCitizen(context.Background(), c); err != nil {
		e.t.Fatal(err)
	}
	return c.ID
}

// loggedInAt records, as a login at client clientID would, the pairwise
// sub the client sees for the citizen, and returns it.
func (e *env) loggedInAt(clientID, citizenID string) string {
	e.t.Helper()
	ctx := context.Background()
	c, err := e.s.Store.Client(ctx, clientID)
	if err != nil {
		e.t.Fatal(err)
	}
	sub, err := e.s.Provider.Subject(ctx, clientID, citizenID)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.s.Store.PutSubject(ctx, oidcop.SubjectSector(c), sub, citizenID); err != nil {
		e.t.Fatal(err)
	}
	return sub
}

// session opens a login session for the citizen, as a passkey login
// would, and returns the value of its cookie.
func (e *env) session(citizenID string) string {
	e.t.Helper()
	secret := fmt.Sprintf("s%x", sha256.Sum256([]byte(citizenID+time.Now().String())))[:43]
	h := sha256.Sum256([]byte(secret))
	now := time.Now().UTC()
	if err := e.s.Store.CreateSession(context.Background(), issuer.Session{IDHash: h[:], SID: "sid-" + secret[:16], CitizenID: citizenID,
		AMR: []string{"hwk", "user", "mfa"}, AuthTime: now, Expires: now.Add(time.Hour)}); err != nil {
		e.t.Fatal(err)
	}
	return secret
}

// agency registers a client that may write to the audit log, and use the
// extra scopes.
func (e *env) agency(id string, extra ...string) {
	e.t.Helper()
	if err := e.s.Store.PutClient(context.Background(), issuer.Client{ID: id, Name: id, GrantTypes: []string{issuer.GrantClientCredentials},
		AuthMethod: issuer.AuthPrivateKeyJWT, JWKS: mustJWKS(e.t, e), SubjectType: issuer.SubjectPairwise,
		Scopes: append([]string{app.AuditWriteScope}, extra...)}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) myAudit(cookie, query string) (int, auditapi.Page, string) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.url+"/account/audit"+query, nil)
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: pages.SessionCookie, Value: cookie})
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var out auditapi.Page
	if res.StatusCode == 200 {
		if err := json.Unmarshal(b, &out); err != nil {
			e.t.Fatalf("GET /account/audit: %v in %s", err, b)
		}
	}
	return res.StatusCode, out, string(b)
}

// TestCitizenAuditView: two agencies record accesses to Ana's data by
// their own pairwise subs; Ana, logged in, sees exactly her entries,
// newest first, decrypted, page by page, each with an inclusion proof
// that verifies against the signed checkpoint; Beto's never appear; after
// erasure her details read "erased" and the proofs still verify.
func TestCitizenAuditView(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.agency("tax")
	e.agency("health")
	ana, beto := e.citizen("Ana"), e.citizen("Beto")
	tok := map[string]string{"tax": e.token("tax", app.AuditWriteScope), "health": e.token("health", app.AuditWriteScope)}
	subs := map[string]map[string]string{
		"tax":    {ana: e.loggedInAt("tax", ana), beto: e.loggedInAt("tax", beto)},
		"health": {ana: e.loggedInAt("health", ana), beto: e.loggedInAt("health", beto)},
	}
	if subs["tax"][ana] == subs["health"][ana] {
		t.Fatal("the two agencies see the same sub: the test needs pairwise subs")
	}
	type rec struct {
		agency, action string
		n              int
	}
	var anaWant []rec // in append order
	for i := range 7 {
		for _, who := range []string{ana, beto} {
			agency := []string{"tax", "health"}[i%2]
			action := fmt.Sprintf("%s.read-%d", agency, i)
			body := fmt.Sprintf(`{"action":%q,"sub":%q,"purpose":"dpv:ServiceProvision","legal_basis":"public-task","categories":["income"],"outcome":"allowed","details":{"n":%d,"who":%q}}`,
				action, subs[agency][who], i, who)
			if res, out := e.do("POST", "/admin/audit", tok[agency], body); res.StatusCode != 201 {
				t.Fatalf("append: %d %v", res.StatusCode, out)
			}
			if who == ana {
				anaWant = append(anaWant, rec{agency, action, i})
			}
		}
	}
	// An entry about nobody.
	if res, out := e.do("POST", "/admin/audit", tok["tax"], `{"action":"tax.batch","outcome":"allowed"}`); res.StatusCode != 201 {
		t.Fatalf("append: %d %v", res.StatusCode, out)
	}

	// No session: 401 problem JSON.
	for _, cookie := range []string{"", "not-a-session"} {
		status, _, body := e.myAudit(cookie, "")
		if status != 401 || !strings.Contains(body, `"status":401`) {
			t.Errorf("GET /account/audit with cookie %q: %d %s, want a 401 problem", cookie, status, body)
		}
	}

	cp, err := e.s.Checkpointer.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	anaCookie := e.session(ana)
	check := func(out auditapi.Page) {
		t.Helper()
		if out.Checkpoint != string(cp.Note) || out.Size != cp.Size || out.Root != cp.Root {
			t.Fatalf("checkpoint %d %s, want %d %s", out.Size, out.Root, cp.Size, cp.Root)
		}
		recs, err := e.s.Audit.Entries(ctx, 0, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		for _, got := range out.Entries {
			if leaf := recs[got.Index].LeafHash(); got.LeafHash != leaf {
				t.Errorf("entry %d: leaf hash %s, want %s", got.Index, got.LeafHash, leaf)
			}
			if err := audit.CheckInclusion(got.Proof, got.Index, out.Size, got.LeafHash, out.Root); err != nil {
				t.Errorf("entry %d: inclusion proof: %v", got.Index, err)
			}
			stored, _ := recs[got.Index].Entry()
			if stored.Subject != e.s.AuditSubject(ana) {
				t.Errorf("entry %d is about %q, not Ana", got.Index, stored.Subject)
			}
		}
	}

	// Page by page, newest first.
	var all []auditapi.ViewEntry
	after := ""
	for pagesSeen := 0; ; pagesSeen++ {
		if pagesSeen > len(anaWant) {
			t.Fatal("more pages than entries")
		}
		status, out, body := e.myAudit(anaCookie, "?limit=3"+after)
		if status != 200 {
			t.Fatalf("GET /account/audit: %d %s", status, body)
		}
		if len(out.Entries) > 3 {
			t.Fatalf("page of %d entries, limit 3", len(out.Entries))
		}
		check(out)
		all = append(all, out.Entries...)
		if out.Next == 0 {
			break
		}
		after = fmt.Sprintf("&after=%d", out.Next)
	}
	// Besides the agencies' entries, Ana sees what the provider recorded
	// about her: her creation by the registrar, at least.
	all, own := agencyEntries(all)
	if !slices.ContainsFunc(own, func(e auditapi.ViewEntry) bool { return e.Action == issuer.ActionCitizenCreate }) {
		t.Errorf("Ana's own entries %+v lack %s", own, issuer.ActionCitizenCreate)
	}
	if len(all) != len(anaWant) {
		t.Fatalf("Ana sees %d agency entries, want %d", len(all), len(anaWant))
	}
	for i, got := range all {
		want := anaWant[len(anaWant)-1-i]
		if i > 0 && got.Index >= all[i-1].Index {
			t.Errorf("entries not newest first: %d after %d", got.Index, all[i-1].Index)
		}
		var details struct {
			N   int    `json:"n"`
			Who string `json:"who"`
		}
		json.Unmarshal(got.Details, &details)
		if got.Action != want.action || got.Actor.Kind != "client" || got.Actor.ID != want.agency || got.Purpose != "dpv:ServiceProvision" ||
			got.LegalBasis != "public-task" || got.Outcome != "allowed" || got.Time.IsZero() || details.N != want.n || details.Who != ana {
			t.Errorf("entry %d: %+v details %s, want %+v with Ana's details", i, got, got.Details, want)
		}
	}

	// Beto sees only his own.
	status, out, body := e.myAudit(e.session(beto), "")
	betos, _ := agencyEntries(out.Entries)
	if status != 200 || len(betos) != len(anaWant) {
		t.Fatalf("Beto: %d, %d agency entries (%s)", status, len(betos), body)
	}
	for _, got := range out.Entries {
		if strings.Contains(string(got.Details), ana) {
			t.Errorf("Beto sees Ana's entry %d", got.Index)
		}
	}

	// Bad cursors.
	for _, q := range []string{"?after=x", "?after=-1", "?limit=0", "?limit=100000"} {
		if status, _, body := e.myAudit(anaCookie, q); status != 400 {
			t.Errorf("GET /account/audit%s: %d %s, want 400", q, status, body)
		}
	}

	// Erasure: by citizen ID; her details read "erased", proofs still verify.
	admin := e.token("registrar", app.AdminScope)
	if res, out := e.do("POST", "/admin/erasures", admin, `{"citizen_id":"`+ana+`"}`); res.StatusCode != 201 {
		t.Fatalf("erase: %d %v", res.StatusCode, out)
	}
	if res, _ := e.do("POST", "/admin/erasures", admin, `{"citizen_id":"nobody"}`); res.StatusCode != 404 {
		t.Errorf("erase an unknown citizen: %d, want 404", res.StatusCode)
	}
	if cp, err = e.s.Checkpointer.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	// Erasure ends her sessions; a session made directly in the store
	// shows how her erased entries read.
	if status, _, _ := e.myAudit(anaCookie, ""); status != 401 {
		t.Errorf("Ana's session after erasure: %d, want 401", status)
	}
	status, out, body = e.myAudit(e.session(ana), "?limit=200")
	agencies, _ := agencyEntries(out.Entries)
	if status != 200 || len(agencies) != len(anaWant) || out.Entries[0].Action != "audit.erase" {
		t.Fatalf("after erasure: %d, %d agency entries (%s)", status, len(agencies), body)
	}
	check(out)
	for _, got := range agencies {
		if string(got.Details) != `"erased"` {
			t.Errorf("entry %d details %s after erasure, want \"erased\"", got.Index, got.Details)
		}
	}
	if res, _ := e.do("POST", "/admin/audit", tok["tax"], `{"action":"tax.read","sub":"`+subs["tax"][ana]+`","outcome":"allowed","details":{"x":1}}`); res.StatusCode != 409 {
		t.Errorf("details about an erased citizen: %d, want 409", res.StatusCode)
	}
}

// agencyEntries splits entries into the agencies' (their actions are
// "<agency>.read-<n>") and the provider's own.
func agencyEntries(entries []auditapi.ViewEntry) (agencies, provider []auditapi.ViewEntry) {
	for _, e := range entries {
		if strings.Contains(e.Action, ".read-") {
			agencies = append(agencies, e)
		} else {
			provider = append(provider, e)
		}
	}
	return agencies, provider
}
