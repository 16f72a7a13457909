package app_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/getkin/kin-openapi/openapi3"

	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/internal/db/dbtest"
	"github.com/cedula/cedula/internal/ratelimit"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/journeys/journeysapi"
)

// hostile is one request of the sweep and the statuses that are right
// for it. A body of nil sends none; ctype "" sends no Content-Type.
type hostile struct {
	name   string
	method string // the operation's when empty
	path   string // with the query
	tok    string
	ctype  string
	body   []byte
	header map[string]string
	want   []int
}

// TestJourneysHostileSweep calls every operation of openapi/journeys.yaml
// and openapi/messages.yaml (read from the documents, so that a new
// operation without cases here fails the test), and the /check page, with
// hostile requests: no token, the wrong scope, another agency's journey,
// dead letter, sub, alert and purpose, malformed JSON, JSON of the wrong
// types, unknown fields, bodies past the limits, deep nesting, hostile
// path and query parameters, the wrong Content-Type, hostile CAP XML
// (entity expansion, DOCTYPE, external entities, other encodings, 10,000
// points, deep nesting) and hostile codes and messages to check. Each
// answer is the right 4xx as problem JSON (or the documented success of
// a legitimate case), never a 5xx, never a hang; the OpenAPI checker
// holds every exchange to the documents. Afterwards the agency's journey,
// its dead letter and its alert are all still there, and other agencies'
// too. On SQLite and, when it is there, PostgreSQL.
func TestJourneysHostileSweep(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { journeysSweep(t, "") })
	t.Run("postgres", func(t *testing.T) { journeysSweep(t, dbtest.PostgresURL(t)) })
}

func journeysSweep(t *testing.T, dbURL string) {
	// The checks are limited per address; the sweep makes more than the
	// limit allows from one.
	defer func(r ratelimit.Rate) { journeysapi.Checks = r }(journeysapi.Checks)
	journeysapi.Checks = ratelimit.Rate{N: 10_000, Per: time.Minute}
	box := startMailbox(t)
	box.mu.Lock()
	box.refuse = func(string) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	}
	box.mu.Unlock()
	// The agency (journeys), with a journey and a dead letter; another
	// agency (journeys and alerts) with a journey, a citizen it knows and
	// an alert; an agency of alerts with its purpose; a client without
	// scopes.
	e, tok := mailedJourney(t, box, func(c *config.Config) { c.DB = dbURL })
	ctx := context.Background()
	ana := e.byEmail("Ana", "ana@example.org")
	anaSub := e.loggedInAt(outreachAgency, ana)
	if res, out := e.do(http.MethodPut, "/journeys/registry/"+anaSub, tok, `{"attributes":{"dependants":2,"benefits":[]}}`); res.StatusCode != 200 {
		t.Fatalf("push: %d %v", res.StatusCode, out)
	}
	e.stepAll()
	dead := func(tok string) []string {
		t.Helper()
		_, b, _ := e.get("/journeys/outbox/dead", tok)
		var page struct {
			DeadLetters []struct{ ID string } `json:"dead_letters"`
		}
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatalf("dead letters: %v %s", err, b)
		}
		var ids []string
		for _, d := range page.DeadLetters {
			ids = append(ids, d.ID)
		}
		return ids
	}
	deads := dead(tok)
	if len(deads) != 1 {
		t.Fatalf("dead letters: %v, want one", deads)
	}
	deadID := deads[0]

	const other = "other-agency"
	e.agency(other, scopes.Journeys, scopes.Alerts)
	if _, err := e.s.Consent.PutPurpose(ctx, consent.Purpose{ID: "other-outreach", Name: consent.Text{ES: "Otra", EN: "Other"},
		Description: consent.Text{ES: "Otra.", EN: "Other."}, Controller: other, LegalBasis: consent.Consent,
		Categories: []string{"identity", "household", "benefits", "location"}, DPV: "dpv:PersonalisedBenefits", NoticeVersion: "1",
		NoticeURL: "https://other.example/privacy"}); err != nil {
		t.Fatal(err)
	}
	otherJ, otherA := e.token(other, scopes.Journeys), e.token(other, scopes.Alerts)
	theirs := strings.Replace(strings.Replace(outreachJourney, outreachPurpose, "other-outreach", 1), `"ask":true`, `"ask":false`, 1)
	if res, out := e.do(http.MethodPut, "/journeys/their-journey", otherJ, theirs); res.StatusCode != 200 {
		t.Fatalf("the other agency defines: %d %v", res.StatusCode, out)
	}
	theirSub := e.loggedInAt(other, ana)
	if st, out := e.postAlert(otherA, capAlert(t, "flood.xml"), ""); st != http.StatusCreated {
		t.Fatalf("the other agency publishes: %d %v", st, out)
	}

	const alerter = "emergencias"
	e.agency(alerter, scopes.Alerts)
	if _, err := e.s.Consent.PutPurpose(ctx, consent.Purpose{ID: "flood-alerts", Name: consent.Text{ES: "Avisos", EN: "Warnings"},
		Description: consent.Text{ES: "Avisos.", EN: "Warnings."}, Controller: alerter, LegalBasis: consent.PublicTask,
		Categories: []string{"location"}, DPV: "dpv:PublicSafety", NoticeVersion: "1", NoticeURL: "https://emergencias.example/privacy"}); err != nil {
		t.Fatal(err)
	}
	alerts := e.token(alerter, scopes.Alerts)
	e.agency("scopeless")
	none := e.token("scopeless", "")
	sealed := e.sealedMessage("es", "Hola, Ana: puede que ahora tenga derecho a la ayuda por hijos.")

	// The statuses.
	var (
		ok200    = []int{200}
		bad      = []int{400}
		unauth   = []int{401}
		forbid   = []int{403}
		notFound = []int{404}
		tooLarge = []int{413}
		media    = []int{415}
		refused  = []int{422}
		// A path the routes do not take, or take as another's.
		nowhere = []int{404, 405}
	)

	// Bodies.
	jsonCT := "application/json"
	big := func(n int) []byte { return append(append([]byte(`{"x":"`), bytes.Repeat([]byte("a"), n)...), `"}`...) }
	deep := func(n int) []byte {
		return []byte(`{"attributes":` + strings.Repeat(`{"a":`, n) + `1` + strings.Repeat(`}`, n) + `}`)
	}
	deepArr := func(prefix string, n int) []byte {
		return []byte(prefix + strings.Repeat("[", n) + strings.Repeat("]", n) + "}")
	}
	journeyWith := func(old, new string) []byte { return []byte(strings.Replace(outreachJourney, old, new, 1)) }
	var steps, msgs, attrs strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&steps, `{"id":"s%d","stop":true},`, i)
	}
	for i := range 700 {
		fmt.Fprintf(&msgs, `"m%d":{"es":{"subject":"a","body":"b"},"en":{"subject":"a","body":"b"}},`, i)
	}
	for i := range 4000 {
		fmt.Fprintf(&attrs, `"a%d":1,`, i)
	}
	manySteps := []byte(strings.Replace(outreachJourney, `"steps":[`, `"steps":[`+steps.String(), 1))
	manyMessages := []byte(strings.Replace(outreachJourney, `"messages":{`, `"messages":{`+msgs.String(), 1))
	manyAttributes := []byte(`{"attributes":{` + strings.TrimSuffix(attrs.String(), ",") + `}}`)
	multi := func() (string, []byte) {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		w.WriteField("code", sealed.Code)
		w.Close()
		return w.FormDataContentType(), b.Bytes()
	}
	mpCT, mpBody := multi()

	// Hostile path parameters, and what each becomes.
	long := strings.Repeat("a", 10<<10)
	hostilePaths := []struct{ name, seg string }{
		{"an empty one", ""},
		{"10 KB", long},
		{"..", ".."},
		{"an escaped ..", "%2e%2e"},
		{"a NUL", "a%00b"},
		{"bytes not UTF-8", "a%ff%feb"},
		{"control characters", "a%07%1b%0ab"},
		{"an escaped slash", "a%2fb"},
		{"unicode", url.PathEscape("jüřney-ñ-💥")},
		{"uppercase", "CHILD-BENEFIT"},
		{"SQL", url.PathEscape("x' OR '1'='1")},
	}

	// CAP.
	flood := capAlert(t, "flood.xml")
	fresh := func(id string) string { return strings.Replace(flood, "ES-CV-2026-0412", id, 1) }
	afterDecl := func(x, insert string) string { // insert after the XML declaration
		i := strings.Index(x, "?>") + 2
		return x[:i] + "\n" + insert + x[i:]
	}
	laughs := `<!DOCTYPE alert [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">` +
		`<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>`
	var poly strings.Builder
	for i := range 10_000 {
		fmt.Fprintf(&poly, "%.4f,%.4f ", 39+float64(i%100)/1000, -0.5+float64(i/100)/1000)
	}
	poly.WriteString("39.0000,-0.5000")
	polyRE := regexp.MustCompile(`<polygon>[^<]*</polygon>`)
	tenThousand := polyRE.ReplaceAllString(fresh("ES-CV-SWEEP-POLY"), "<polygon>"+poly.String()+"</polygon>")
	deepXML := strings.Replace(fresh("ES-CV-SWEEP-DEEP"), "<source>", strings.Repeat("<x>", 100_000)+strings.Repeat("</x>", 100_000)+"<source>", 1)
	latin1 := strings.Replace(strings.Replace(fresh("ES-CV-SWEEP-LATIN"), `encoding="UTF-8"`, `encoding="ISO-8859-1"`, 1), "Júcar", "J\xfacar", -1)
	utf16 := func(s string) []byte {
		b := []byte{0xff, 0xfe}
		for _, r := range s {
			b = append(b, byte(r), byte(r>>8))
		}
		return b
	}
	overMiB := append([]byte(fresh("ES-CV-SWEEP-BIG")), bytes.Repeat([]byte(" "), 1<<20)...)
	overMiB = overMiB[:1<<20+1]
	update := capAlert(t, "flood-update.xml") // references the other agency's alert
	capCT := "application/cap+xml"

	// Each operation's cases.
	auth := func(path, goodTok, wrongTok, ctype string, body []byte) []hostile {
		return []hostile{
			{name: "no token", path: path, ctype: ctype, body: body, want: unauth},
			{name: "a token not ours", path: path, tok: "not-a-token", ctype: ctype, body: body, want: unauth},
			{name: "a token without scopes", path: path, tok: none, ctype: ctype, body: body, want: forbid},
			{name: "a token of the other scope", path: path, tok: wrongTok, ctype: ctype, body: body, want: forbid},
			{name: "the token in the query", path: path + "?access_token=" + goodTok, ctype: ctype, body: body, want: unauth},
			{name: "a Basic header", path: path, ctype: ctype, body: body, header: map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("a:b"))}, want: unauth},
		}
	}
	pathCases := func(prefix, suffix, ctype string, body []byte, want, wantEmpty []int) []hostile {
		var out []hostile
		for _, p := range hostilePaths {
			w := want
			switch {
			case p.seg == "":
				w = wantEmpty
			case strings.Contains(p.seg, "%00") || strings.Contains(p.seg, "%ff"):
				w = notFound // no address at all
			}
			out = append(out, hostile{name: "a path parameter: " + p.name, path: prefix + p.seg + suffix, tok: tok, ctype: ctype, body: body, want: w})
		}
		return out
	}
	validJourney := []byte(strings.Replace(outreachJourney, `"ask":true`, `"ask":false`, 1))
	jsonBodies := func(path string, wrongTypes ...string) []hostile {
		out := []hostile{
			{name: "malformed JSON", body: []byte(`{"purpose":`)},
			{name: "no body", ctype: jsonCT},
			{name: "an empty body", body: []byte{}},
			{name: "white space", body: []byte(" \n\t ")},
			{name: "trailing data", body: []byte(`{"attributes":{}} {}`)},
			{name: "two values", body: []byte(`{}{}`)},
			{name: "a duplicate key", body: []byte(`{"attributes":{},"attributes":{}}`)},
			{name: "invalid UTF-8", body: []byte("{\"attributes\":{\"given_name\":\"\xff\xfe\"}}")},
			{name: "binary", body: []byte("\x00\x01\x02\x03\xff")},
			{name: "an array", body: []byte(`[]`)},
			{name: "a string", body: []byte(`"x"`)},
			{name: "a number", body: []byte(`1e400`)},
			{name: "null", body: []byte(`null`)},
			{name: "an unknown field", body: []byte(`{"zzz":1}`)},
			{name: "a __proto__ field", body: []byte(`{"__proto__":{"admin":true}}`)},
			{name: "deeply nested objects", body: deep(10_000)},
			{name: "deeply nested arrays", body: deepArr(`{"attributes":`, 30_000)},
			{name: "nesting just past the limit", body: deep(70)},
			{name: "more than 1 MiB", body: big(1<<20 + 1), want: tooLarge},
			{name: "just past 64 KiB", body: big(64 << 10), want: tooLarge},
			{name: "text/plain", ctype: "text/plain", body: validJourney, want: media},
			{name: "no Content-Type", ctype: "-", body: validJourney, want: media},
			{name: "multipart", ctype: mpCT, body: mpBody, want: media},
			{name: "form", ctype: "application/x-www-form-urlencoded", body: []byte("purpose=x"), want: media},
			{name: "a Content-Type that does not parse", ctype: "application/json; charset", body: validJourney, want: media},
			{name: "XML", ctype: "application/xml", body: []byte(`<journey/>`), want: media},
		}
		for _, w := range wrongTypes {
			out = append(out, hostile{name: "wrong types " + w, body: []byte(w)})
		}
		for i := range out {
			out[i].path, out[i].tok = path, tok
			if out[i].ctype == "" {
				out[i].ctype = jsonCT
			}
			if out[i].ctype == "-" {
				out[i].ctype = ""
			}
			if out[i].want == nil {
				out[i].want = bad
			}
		}
		return out
	}
	var cases = map[string][]hostile{}
	add := func(op string, hs ...hostile) { cases[op] = append(cases[op], hs...) }

	// GET /journeys
	add("listJourneys", auth("/journeys", tok, alerts, "", nil)...)
	add("listJourneys",
		hostile{name: "the agency's own", path: "/journeys", tok: tok, want: ok200},
		hostile{name: "a query it does not take", path: "/journeys?limit=-1&cursor=%00&agency=" + other, tok: tok, want: ok200},
		hostile{name: "a body on a GET", path: "/journeys", tok: tok, ctype: "text/plain", body: big(1 << 20), want: ok200},
	)
	// GET /journeys/{id}
	add("getJourney", auth("/journeys/child-benefit", tok, alerts, "", nil)...)
	add("getJourney", pathCases("/journeys/", "", "", nil, notFound, nowhere)...)
	add("getJourney",
		hostile{name: "the agency's own", path: "/journeys/child-benefit", tok: tok, want: ok200},
		hostile{name: "another agency's journey", path: "/journeys/their-journey", tok: tok, want: notFound},
		hostile{name: "the journey, asked by another agency", path: "/journeys/child-benefit", tok: otherJ, want: notFound},
		hostile{name: "a name of the routes", path: "/journeys/registry", tok: tok, want: notFound},
		hostile{name: "a name of the routes", path: "/journeys/outbox", tok: tok, want: notFound},
	)
	// PUT /journeys/{id}
	add("defineJourney", auth("/journeys/sweep", tok, alerts, jsonCT, validJourney)...)
	add("defineJourney", pathCases("/journeys/", "", jsonCT, validJourney, refused, nowhere)...)
	add("defineJourney", jsonBodies("/journeys/sweep",
		`{"purpose":1,"trigger":{"event":"registry.changed"},"segment":"true","steps":[],"messages":{}}`,
		`{"purpose":"child-benefit-outreach","trigger":[],"segment":"true","steps":[],"messages":{}}`,
		`{"purpose":"child-benefit-outreach","trigger":{"event":"registry.changed"},"segment":true,"steps":[],"messages":{}}`,
		`{"purpose":"child-benefit-outreach","trigger":{"event":"registry.changed"},"segment":"true","steps":{},"messages":{}}`,
		`{"purpose":"child-benefit-outreach","trigger":{"event":"registry.changed"},"segment":"true","steps":[],"messages":[]}`,
		`{"purpose":"child-benefit-outreach","trigger":{"event":"registry.changed"},"segment":"true","steps":[1],"messages":{}}`,
		`{"purpose":"child-benefit-outreach","trigger":{"event":"registry.changed"},"segment":"true","cap":"10","steps":[],"messages":{}}`,
		`{"purpose":"child-benefit-outreach","trigger":{"event":"registry.changed"},"segment":"true","cap":1.5,"steps":[],"messages":{}}`,
		`{"purpose":"child-benefit-outreach","trigger":{"event":"registry.changed"},"segment":"true","cap":1e30,"steps":[],"messages":{}}`,
		`{"purpose":"child-benefit-outreach","trigger":{"event":"registry.changed"},"segment":"true","steps":[{"id":"a","wait":5}],"messages":{}}`,
		`{"purpose":"child-benefit-outreach","trigger":{"event":"registry.changed"},"segment":"true","steps":[{"id":"a","wait":"forever"}],"messages":{}}`,
		`{"purpose":"child-benefit-outreach","trigger":{"event":"registry.changed"},"segment":"true","steps":[{"id":"a","wait":"99999999999999h"}],"messages":{}}`,
		`{"purpose":"child-benefit-outreach","trigger":{"event":"registry.changed"},"segment":"true","steps":[{"id":"a","stop":"yes"}],"messages":{}}`,
		`{"purpose":"child-benefit-outreach","trigger":{"event":"registry.changed"},"segment":"true","steps":[{"id":"a","send":[]}],"messages":{}}`,
		`{"purpose":"child-benefit-outreach","trigger":{"event":"registry.changed"},"segment":"true","steps":[{"id":"a","send":{"message":"m","channels":"email"}}],"messages":{}}`,
		`{"purpose":"child-benefit-outreach","trigger":{"event":"registry.changed"},"segment":"true","steps":[{"id":"a","stop":true}],"messages":{"m":{"es":"hola","en":"hi"}}}`,
		`{"purpose":"child-benefit-outreach","trigger":{"event":"registry.changed"},"segment":"true","steps":[{"id":"a","stop":true}],"messages":{"m":{"es":{"subject":1,"body":2},"en":null}}}`,
	)...)
	add("defineJourney",
		hostile{name: "the agency's own", path: "/journeys/sweep", tok: tok, ctype: jsonCT, body: validJourney, want: ok200},
		hostile{name: "an +json Content-Type", path: "/journeys/sweep", tok: tok, ctype: "application/merge-patch+json", body: validJourney, want: media},
		// Journey ids are one space: another agency's is not found, as
		// its GET is (a 409 would tell that it exists).
		hostile{name: "another agency's journey", path: "/journeys/their-journey", tok: tok, ctype: jsonCT, body: validJourney, want: notFound},
		hostile{name: "another agency's purpose", path: "/journeys/sweep", tok: tok, ctype: jsonCT, body: journeyWith(outreachPurpose, "other-outreach"), want: refused},
		hostile{name: "another agency named", path: "/journeys/sweep", tok: tok, ctype: jsonCT, body: journeyWith(`{"purpose"`, `{"agency":"other-agency","purpose"`), want: bad},
		hostile{name: "another id in the body", path: "/journeys/sweep", tok: tok, ctype: jsonCT, body: journeyWith(`{"purpose"`, `{"id":"their-journey","purpose"`), want: bad},
		hostile{name: "categories given", path: "/journeys/sweep", tok: tok, ctype: jsonCT, body: journeyWith(`{"purpose"`, `{"categories":["health"],"purpose"`), want: bad},
		hostile{name: "nulls everywhere", path: "/journeys/sweep", tok: tok, ctype: jsonCT, want: []int{400, 422},
			body: []byte(`{"id":null,"agency":null,"purpose":null,"trigger":null,"segment":null,"score":null,"cap":null,"steps":null,"messages":null}`)},
		hostile{name: "null steps and texts", path: "/journeys/sweep", tok: tok, ctype: jsonCT, want: []int{400, 422},
			body: []byte(`{"purpose":"child-benefit-outreach","trigger":{"event":null,"schedule":null},"segment":"true","steps":[null,{"id":null,"send":null,"branch":null}],"messages":{"m":null,"n":{"es":null,"en":{"subject":null,"body":null}}}}`)},
		hostile{name: "an empty object", path: "/journeys/sweep", tok: tok, ctype: jsonCT, body: []byte(`{}`), want: refused},
		hostile{name: "2,000 steps", path: "/journeys/sweep", tok: tok, ctype: jsonCT, body: manySteps, want: refused},
		hostile{name: "700 messages", path: "/journeys/sweep", tok: tok, ctype: jsonCT, body: manyMessages, want: refused},
		hostile{name: "a negative cap", path: "/journeys/sweep", tok: tok, ctype: jsonCT, body: journeyWith(`"segment"`, `"cap":-1,"segment"`), want: refused},
		hostile{name: "an event and a schedule", path: "/journeys/sweep", tok: tok, ctype: jsonCT, body: journeyWith(`{"event":"registry.changed"}`, `{"event":"registry.changed","schedule":"daily"}`), want: refused},
		hostile{name: "an unknown schedule", path: "/journeys/sweep", tok: tok, ctype: jsonCT, body: journeyWith(`{"event":"registry.changed"}`, `{"schedule":"hourly"}`), want: refused},
		hostile{name: "a negative wait", path: "/journeys/sweep", tok: tok, ctype: jsonCT, body: journeyWith(`"wait":"1h"`, `"wait":"-1h"`), want: refused},
		hostile{name: "a wait of years", path: "/journeys/sweep", tok: tok, ctype: jsonCT, body: journeyWith(`"wait":"1h"`, `"wait":"87600h"`), want: refused},
		hostile{name: "an unknown channel", path: "/journeys/sweep", tok: tok, ctype: jsonCT, body: journeyWith(`"message":"offer","ask":true`, `"message":"offer","channels":["pigeon"]`), want: refused},
		hostile{name: "a step to a missing message", path: "/journeys/sweep", tok: tok, ctype: jsonCT, body: journeyWith(`"message":"offer","ask":true`, `"message":"nothing"`), want: refused},
		hostile{name: "two steps of one id", path: "/journeys/sweep", tok: tok, ctype: jsonCT, body: journeyWith(`{"id":"later"`, `{"id":"tell"`), want: refused},
		hostile{name: "a segment nested 5,000 deep", path: "/journeys/sweep", tok: tok, ctype: jsonCT,
			body: journeyWith(`"dependants > 0 && !(\"child-benefit\" in benefits)"`, `"`+strings.Repeat("(", 5000)+"true"+strings.Repeat(")", 5000)+`"`), want: refused},
		hostile{name: "a segment of 10,000 terms", path: "/journeys/sweep", tok: tok, ctype: jsonCT,
			body: journeyWith(`"dependants > 0 && !(\"child-benefit\" in benefits)"`, `"`+strings.Repeat("dependants > 0 && ", 3000)+"true"+`"`), want: []int{200, 422}},
		hostile{name: "a segment that is not a boolean", path: "/journeys/sweep", tok: tok, ctype: jsonCT, body: journeyWith(`"dependants > 0 && !(\"child-benefit\" in benefits)"`, `"dependants"`), want: refused},
		hostile{name: "a segment that divides by zero", path: "/journeys/sweep", tok: tok, ctype: jsonCT, body: journeyWith(`"dependants > 0 && !(\"child-benefit\" in benefits)"`, `"dependants / 0 > 1"`), want: []int{200, 422}},
		hostile{name: "a score that is a string", path: "/journeys/sweep", tok: tok, ctype: jsonCT, body: journeyWith(`"segment"`, `"score":"given_name","segment"`), want: refused},
		hostile{name: "a segment with a NUL", path: "/journeys/sweep", tok: tok, ctype: jsonCT, body: journeyWith(`dependants > 0`, `dependants > 0\u0000`), want: refused},
		hostile{name: "a subject past 120", path: "/journeys/sweep", tok: tok, ctype: jsonCT, body: journeyWith(`Una ayuda para usted`, strings.Repeat("ü", 121)), want: refused},
		hostile{name: "a body past 2,000", path: "/journeys/sweep", tok: tok, ctype: jsonCT, body: journeyWith(`Hola, {{given_name}}`, strings.Repeat("x", 2001)), want: refused},
		hostile{name: "a placeholder that never ends", path: "/journeys/sweep", tok: tok, ctype: jsonCT, body: journeyWith(`Hola, {{given_name}}`, `Hola, {{given_name`), want: []int{200, 422}},
		hostile{name: "a placeholder with a rule", path: "/journeys/sweep", tok: tok, ctype: jsonCT, body: journeyWith(`Hola, {{given_name}}`, `Hola, {{given_name + family_name}}`), want: refused},
		hostile{name: "a link hidden in unicode", path: "/journeys/sweep", tok: tok, ctype: jsonCT, body: journeyWith(`en su oficina`, `en ａｙｕｄａｓ．ｅｘａｍｐｌｅ／ｐｅｄｉｒ`), want: []int{200, 422}},
		hostile{name: "control characters in a message", path: "/journeys/sweep", tok: tok, ctype: jsonCT, body: journeyWith(`en su oficina`, `\u0007\u001b[2J\u202e`), want: []int{200, 422}},
	)
	// DELETE /journeys/{id}
	add("retireJourney", auth("/journeys/child-benefit", tok, alerts, "", nil)...)
	add("retireJourney", pathCases("/journeys/", "", "", nil, notFound, nowhere)...)
	add("retireJourney",
		hostile{name: "another agency's journey", path: "/journeys/their-journey", tok: tok, want: notFound},
		hostile{name: "the journey, retired by another agency", path: "/journeys/child-benefit", tok: otherJ, want: notFound},
		hostile{name: "a journey never defined", path: "/journeys/never", tok: tok, want: notFound},
	)
	// POST /journeys/{id}/dry-run
	add("dryRunJourney", auth("/journeys/child-benefit/dry-run", tok, alerts, "", nil)...)
	add("dryRunJourney", pathCases("/journeys/", "/dry-run", "", nil, notFound, nowhere)...)
	add("dryRunJourney",
		hostile{name: "the agency's own", path: "/journeys/child-benefit/dry-run", tok: tok, want: ok200},
		hostile{name: "a body it does not take", path: "/journeys/child-benefit/dry-run", tok: tok, ctype: jsonCT, body: deep(10_000), want: []int{200, 400, 415}},
		hostile{name: "another agency's journey", path: "/journeys/their-journey/dry-run", tok: tok, want: notFound},
		hostile{name: "the journey, counted by another agency", path: "/journeys/child-benefit/dry-run", tok: otherJ, want: notFound},
	)
	// PUT /journeys/registry/{sub}
	push := "/journeys/registry/" + anaSub
	okPush := []byte(`{"attributes":{"dependants":2,"benefits":[]}}`)
	add("pushAttributes", auth(push, tok, alerts, jsonCT, okPush)...)
	add("pushAttributes", pathCases("/journeys/registry/", "", jsonCT, okPush, notFound, nowhere)...)
	add("pushAttributes", jsonBodies(push,
		`{"attributes":[]}`, `{"attributes":"dependants"}`, `{"attributes":1}`, `{"attributes":[{"dependants":1}]}`,
		`{"attributes":{"dependants":"two"}}`, `{"attributes":{"dependants":[2]}}`, `{"attributes":{"dependants":{"$gt":0}}}`,
		`{"attributes":{"dependants":1.5}}`, `{"attributes":{"dependants":1e400}}`, `{"attributes":{"dependants":99999999999999999999999}}`,
		`{"attributes":{"dependants":true}}`, `{"attributes":{"benefits":"x"}}`, `{"attributes":{"benefits":[1,2]}}`,
		`{"attributes":{"benefits":[null]}}`, `{"attributes":{"benefits":[["x"]]}}`, `{"attributes":{"birthdate":"yesterday"}}`,
		`{"attributes":{"birthdate":"2026-02-30"}}`, `{"attributes":{"birthdate":"99999-01-01"}}`, `{"attributes":{"birthdate":12}}`,
		`{"attributes":{"given_name":1}}`, `{"attributes":{"shoe_size":44}}`, `{"attributes":{"":1}}`, `{"attributes":{"\u0000":1}}`,
		`{"attributes":{"__proto__":{}}}`, `{"attributes":{"DEPENDANTS":1}}`,
	)...)
	add("pushAttributes",
		hostile{name: "the agency's own", path: push, tok: tok, ctype: jsonCT, body: okPush, want: ok200},
		hostile{name: "another agency's sub", path: "/journeys/registry/" + theirSub, tok: tok, ctype: jsonCT, body: okPush, want: notFound},
		hostile{name: "the sub, pushed by another agency", path: push, tok: otherJ, ctype: jsonCT, body: okPush, want: notFound},
		hostile{name: "the citizen's own id as sub", path: "/journeys/registry/" + ana, tok: tok, ctype: jsonCT, body: okPush, want: notFound},
		hostile{name: "no attributes", path: push, tok: tok, ctype: jsonCT, body: []byte(`{}`), want: bad},
		hostile{name: "null attributes", path: push, tok: tok, ctype: jsonCT, body: []byte(`{"attributes":null}`), want: bad},
		hostile{name: "null attribute values", path: push, tok: tok, ctype: jsonCT, want: bad,
			body: []byte(`{"attributes":{"dependants":null,"benefits":null,"birthdate":null,"given_name":null}}`)},
		hostile{name: "4,000 attributes", path: push, tok: tok, ctype: jsonCT, body: manyAttributes, want: bad},
		hostile{name: "an attribute of 60 KB", path: push, tok: tok, ctype: jsonCT, body: []byte(`{"attributes":{"given_name":"` + strings.Repeat("x", 60<<10) + `"}}`), want: []int{200, 400}},
		hostile{name: "a benefits list of 10,000", path: push, tok: tok, ctype: jsonCT, body: []byte(`{"attributes":{"benefits":[` + strings.TrimSuffix(strings.Repeat(`"b",`, 10_000), ",") + `]}}`), want: []int{200, 400}},
		hostile{name: "a NUL in a name", path: push, tok: tok, ctype: jsonCT, body: []byte(`{"attributes":{"given_name":"An\u0000a"}}`), want: []int{200, 400}},
		hostile{name: "a negative count", path: push, tok: tok, ctype: jsonCT, body: []byte(`{"attributes":{"dependants":-1}}`), want: []int{200, 400}},
	)
	// GET /journeys/outbox/dead
	const deadPath = "/journeys/outbox/dead"
	cursor := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	add("listDeadLetters", auth(deadPath, tok, alerts, "", nil)...)
	for _, q := range []string{"limit=-1", "limit=0", "limit=501", "limit=abc", "limit=1e3", "limit=99999999999999999999", "limit=", "limit=%00",
		"limit=1&limit=abc", "cursor=!!!", "cursor=" + long, "cursor=%00", "cursor=" + cursor("x.y"), "cursor=" + cursor("1."), "cursor=a&cursor=b",
		"cursor=" + cursor("1.é\u0000"), "cursor=" + cursor("1.\xff"), "cursor=" + cursor("1.a b"),
		"cursor=" + cursor("99999999999999999999.x"), "cursor=" + url.QueryEscape(base64.StdEncoding.EncodeToString([]byte("1.xy")))} {
		add("listDeadLetters", hostile{name: "a query " + q[:min(len(q), 40)], path: deadPath + "?" + q, tok: tok, want: bad})
	}
	for _, q := range []string{"limit=1", "limit=500", "cursor=" + cursor("9223372036854775807.x"), "cursor=" + cursor("-9223372036854775808.x"),
		"cursor=" + cursor("0."+long[:100]), "cursor=" + cursor("1.x';DROP-TABLE-journeys_deliveries;--"), "cursor=" + cursor("1.x")} {
		add("listDeadLetters", hostile{name: "a query " + q[:min(len(q), 40)], path: deadPath + "?" + q, tok: tok, want: []int{200, 400}})
	}
	add("listDeadLetters",
		hostile{name: "the agency's own", path: deadPath, tok: tok, want: ok200},
		hostile{name: "another agency's", path: deadPath, tok: otherJ, want: ok200},
	)
	// POST /journeys/outbox/dead/{delivery}/retry and DELETE …/{delivery}
	for _, op := range []struct{ id, suffix string }{{"retryDeadLetter", "/retry"}, {"discardDeadLetter", ""}} {
		add(op.id, auth(deadPath+"/"+deadID+op.suffix, tok, alerts, "", nil)...)
		add(op.id, pathCases(deadPath+"/", op.suffix, "", nil, notFound, nowhere)...)
		add(op.id,
			hostile{name: "another agency's dead letter", path: deadPath + "/" + deadID + op.suffix, tok: otherJ, want: notFound},
			hostile{name: "a delivery never made", path: deadPath + "/00000000-0000-0000-0000-000000000000" + op.suffix, tok: tok, want: notFound},
			hostile{name: "the dead letter's id in uppercase", path: deadPath + "/" + strings.ToUpper(deadID) + op.suffix, tok: tok, want: notFound},
			hostile{name: "the dead letter's id with a suffix", path: deadPath + "/" + deadID + "%00" + op.suffix, tok: tok, want: notFound},
		)
	}
	// POST /alerts
	add("publishAlert", auth("/alerts", alerts, tok, capCT, []byte(fresh("ES-CV-SWEEP-AUTH")))...)
	for _, c := range []struct {
		name, query, ctype string
		body               []byte
		want               []int
	}{
		{"the agency's own", "", capCT, []byte(fresh("ES-CV-SWEEP-OK")), []int{201}},
		{"the same again", "", capCT, []byte(fresh("ES-CV-SWEEP-OK")), ok200},
		{"the same key, other content", "", capCT, []byte(strings.Replace(fresh("ES-CV-SWEEP-OK"), "Inundación fluvial", "Incendio", 1)), []int{409}},
		{"another agency's alert, again", "", capCT, []byte(flood), []int{409}},
		{"an update of another agency's alert", "", capCT, []byte(update), bad},
		{"application/xml", "", "application/xml", []byte(fresh("ES-CV-SWEEP-XML")), []int{201}},
		{"JSON", "", jsonCT, []byte(`{"alert":{}}`), media},
		{"text/xml", "", "text/xml", []byte(fresh("ES-CV-SWEEP-TEXTXML")), media},
		{"a charset of UTF-16 declared", "", capCT + "; charset=utf-16", []byte(fresh("ES-CV-SWEEP-CS16")), []int{201, 400, 415}},
		{"text/plain", "", "text/plain", []byte(fresh("ES-CV-SWEEP-TEXT")), media},
		{"no Content-Type", "", "", []byte(fresh("ES-CV-SWEEP-NOCT")), media},
		{"multipart", "", mpCT, mpBody, media},
		{"a Content-Type that does not parse", "", "application/cap+xml; charset", []byte(fresh("ES-CV-SWEEP-CT")), []int{201, 415}},
		{"no body", "", capCT, nil, bad},
		{"white space", "", capCT, []byte(" \n "), bad},
		{"not XML", "", capCT, []byte("{not xml"), bad},
		{"binary", "", capCT, []byte("\x00\x01\x02\xff\xfe"), bad},
		{"not CAP", "", capCT, []byte("<alert/>"), bad},
		{"another namespace", "", capCT, []byte(strings.Replace(fresh("ES-CV-SWEEP-NS"), "urn:oasis:names:tc:emergency:cap:1.2", "urn:evil", 1)), bad},
		{"billion laughs", "", capCT, []byte(afterDecl(strings.Replace(fresh("ES-CV-SWEEP-LOL"), "<event>Inundación fluvial</event>", "<event>&lol4;</event>", 1), laughs)), bad},
		{"a DOCTYPE", "", capCT, []byte(afterDecl(fresh("ES-CV-SWEEP-DT"), `<!DOCTYPE alert>`)), bad},
		{"an external entity", "", capCT, []byte(afterDecl(strings.Replace(fresh("ES-CV-SWEEP-XXE"), "<event>Inundación fluvial</event>", "<event>&xxe;</event>", 1),
			`<!DOCTYPE alert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>`)), bad},
		{"an undeclared entity", "", capCT, []byte(strings.Replace(fresh("ES-CV-SWEEP-ENT"), "<event>Inundación fluvial</event>", "<event>&xxe;</event>", 1)), bad},
		{"a processing instruction", "", capCT, []byte(afterDecl(fresh("ES-CV-SWEEP-PI"), `<?xml-stylesheet href="http://evil.example/x.xsl"?>`)), []int{201, 400}},
		{"an ISO-8859-1 declaration", "", capCT, []byte(latin1), bad},
		{"UTF-16", "", capCT, utf16(fresh("ES-CV-SWEEP-16")), bad},
		{"invalid UTF-8", "", capCT, []byte(strings.Replace(fresh("ES-CV-SWEEP-UTF"), "Júcar", "J\xff\xfecar", 1)), bad},
		{"1 MiB and a byte", "", capCT, overMiB, tooLarge},
		{"2 MiB", "", capCT, bytes.Repeat([]byte("<"), 2<<20), tooLarge},
		{"a polygon of 10,000 points", "", capCT, []byte(tenThousand), bad},
		{"elements nested 100,000 deep", "", capCT, []byte(deepXML), bad},
		{"two alerts", "", capCT, []byte(fresh("ES-CV-SWEEP-TWO-A") + strings.TrimPrefix(fresh("ES-CV-SWEEP-TWO-B"), `<?xml version="1.0" encoding="UTF-8"?>`)), bad},
		{"trailing garbage", "", capCT, []byte(fresh("ES-CV-SWEEP-TRAIL") + "<x>"), bad},
		{"CDATA in the identifier", "", capCT, []byte(strings.Replace(flood, "<identifier>ES-CV-2026-0412</identifier>", "<identifier><![CDATA[ES-CV-SWEEP-<CDATA>]]></identifier>", 1)), bad},
		{"mode=xyz", "?mode=xyz", capCT, []byte(fresh("ES-CV-SWEEP-MODE")), bad},
		{"mode twice", "?mode=broadcast&mode=xyz", capCT, []byte(fresh("ES-CV-SWEEP-MODE2")), []int{201, 400}},
		{"mode uppercase", "?mode=BROADCAST", capCT, []byte(fresh("ES-CV-SWEEP-MODE3")), bad},
		{"mode=%00", "?mode=%00", capCT, []byte(fresh("ES-CV-SWEEP-MODE4")), bad},
		{"targeted without a purpose", "?mode=targeted", capCT, []byte(fresh("ES-CV-SWEEP-TP0")), bad},
		{"an unknown purpose", "?mode=targeted&purpose=nothing", capCT, []byte(fresh("ES-CV-SWEEP-TP1")), bad},
		{"another agency's purpose", "?mode=targeted&purpose=other-outreach", capCT, []byte(fresh("ES-CV-SWEEP-TP2")), bad},
		{"a purpose of 10 KB", "?mode=targeted&purpose=" + long, capCT, []byte(fresh("ES-CV-SWEEP-TP3")), bad},
		{"a purpose with a NUL", "?mode=targeted&purpose=flood%00alerts", capCT, []byte(fresh("ES-CV-SWEEP-TP4")), bad},
		{"a purpose in unicode", "?mode=targeted&purpose=" + url.QueryEscape("ﬂood-alerts"), capCT, []byte(fresh("ES-CV-SWEEP-TP5")), bad},
		{"a purpose in uppercase", "?mode=targeted&purpose=FLOOD-ALERTS", capCT, []byte(fresh("ES-CV-SWEEP-TP6")), bad},
		{"a broadcast naming another agency's purpose", "?purpose=other-outreach", capCT, []byte(fresh("ES-CV-SWEEP-TP7")), []int{201, 400}},
		{"a targeted alert under its own purpose", "?mode=targeted&purpose=flood-alerts", capCT, []byte(fresh("ES-CV-SWEEP-TP8")), []int{201}},
	} {
		add("publishAlert", hostile{name: c.name, path: "/alerts" + c.query, tok: alerts, ctype: c.ctype, body: c.body, want: c.want})
	}
	// POST /messages/check
	msg := func(s string) []byte { b, _ := json.Marshal(map[string]string{"message": s}); return b }
	for _, c := range []struct {
		name, ctype string
		body        []byte
		want        []int
	}{
		{"a genuine code", jsonCT, code(sealed.Code), ok200},
		{"a genuine message", jsonCT, msg(sealed.Text), ok200},
		{"no body", jsonCT, nil, bad},
		{"an empty object", jsonCT, []byte(`{}`), bad},
		{"empty strings", jsonCT, []byte(`{"code":"","message":""}`), bad},
		{"white space", jsonCT, []byte(`{"code":" \t\n","message":"\u00a0"}`), []int{200, 400}},
		{"malformed JSON", jsonCT, []byte(`{"code":`), bad},
		{"nulls", jsonCT, []byte(`{"code":null,"message":null}`), bad},
		{"a number for the code", jsonCT, []byte(`{"code":123456789012}`), bad},
		{"an array for the message", jsonCT, []byte(`{"message":["a"]}`), bad},
		{"an array", jsonCT, []byte(`["code"]`), bad},
		{"an unknown field", jsonCT, []byte(`{"code":"ABCD-EFGH-JKMN","agency":"x"}`), bad},
		{"deeply nested", jsonCT, deepArr(`{"message":`, 30_000), bad},
		{"more than 1 MiB", jsonCT, msg(strings.Repeat("a", 1<<20+1)), tooLarge},
		{"a message past 16,384", jsonCT, msg(strings.Repeat("a", 16385)), bad},
		{"a code past 64", jsonCT, code(strings.Repeat("A", 65)), bad},
		{"binary", jsonCT, []byte("\x00\x01\xff\xfe"), bad},
		{"invalid UTF-8 in a string", jsonCT, []byte("{\"code\":\"\xff\xfe\xfd\"}"), bad},
		{"control characters", jsonCT, code("\u0000\u0007\u001b[2J\u0008"), ok200},
		{"control characters in a message", jsonCT, msg("\u0000\u0007\u001b[2J\u202eCódigo: " + sealed.Code + "\u0000"), ok200},
		{"a code of the wrong alphabet", jsonCT, code("ÑÑÑÑ-ÜÜÜÜ-ßßßß"), ok200},
		{"a code with U", jsonCT, code("UUUU-UUUU-UUUU"), ok200},
		{"a code of emoji", jsonCT, code("💥💥💥💥-💥💥💥💥-💥💥💥💥"), ok200},
		{"a code in full-width letters", jsonCT, code("ＫＸＱＦ-９ＸＷＭ-３ＤＰＡ"), ok200},
		{"a code too short", jsonCT, code("K7QF"), ok200},
		{"a code of 64 hyphens", jsonCT, code(strings.Repeat("-", 64)), []int{200, 400}},
		{"a message of many codes", jsonCT, msg(strings.Repeat("Código: K7QF-9XWM-3DPA ", 600)), ok200},
		{"text/plain", "text/plain", []byte(sealed.Code), media},
		{"no Content-Type", "", code(sealed.Code), media},
		{"multipart", mpCT, mpBody, media},
		{"form", "application/x-www-form-urlencoded", []byte("code=" + sealed.Code), media},
	} {
		add("checkMessage", hostile{name: c.name, path: "/messages/check", ctype: c.ctype, body: c.body, want: c.want})
	}

	// Every operation of the documents has its cases.
	type op struct{ id, method, path string }
	var ops []op
	for _, name := range []string{"journeys.yaml", "messages.yaml"} {
		doc, err := openapi3.NewLoader().LoadFromFile("../../../openapi/" + name)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range doc.Paths.InMatchingOrder() {
			for method, o := range doc.Paths.Value(p).Operations() {
				ops = append(ops, op{o.OperationID, method, p})
			}
		}
	}
	// Reads first, then the writes, the retirement and the discard last.
	order := []string{"listJourneys", "getJourney", "dryRunJourney", "listDeadLetters", "checkMessage", "defineJourney", "pushAttributes",
		"publishAlert", "retryDeadLetter", "retireJourney", "discardDeadLetter"}
	slices.SortFunc(ops, func(x, y op) int {
		i, j := slices.Index(order, x.id), slices.Index(order, y.id)
		if i < 0 {
			i = len(order)
		}
		if j < 0 {
			j = len(order)
		}
		return i - j
	})
	if len(ops) != len(cases) {
		t.Errorf("the documents have %d operations, the sweep cases for %d", len(ops), len(cases))
	}
	total := 0
	for _, o := range ops {
		hs, ok := cases[o.id]
		if !ok || len(hs) == 0 {
			t.Errorf("operation %s (%s %s) has no case in the sweep: add some", o.id, o.method, o.path)
			continue
		}
		t.Run(o.id, func(t *testing.T) {
			for _, h := range hs {
				if h.method == "" {
					h.method = o.method
				}
				total++
				e.hostile(t, h)
			}
		})
	}

	// The /check page: HTML, never a 5xx.
	total += e.hostileCheckPage(t, sealed.Code)

	// Nothing was lost: the journey, the dead letter, the other agency's
	// journey and alert are all there.
	if res, out := e.do(http.MethodGet, "/journeys/child-benefit", tok, ""); res.StatusCode != 200 {
		t.Errorf("the agency's journey afterwards: %d %v", res.StatusCode, out)
	}
	if res, out := e.do(http.MethodGet, "/journeys/their-journey", otherJ, ""); res.StatusCode != 200 || out["purpose"] != "other-outreach" {
		t.Errorf("the other agency's journey afterwards: %d %v", res.StatusCode, out)
	}
	if got := dead(tok); !slices.Equal(got, []string{deadID}) {
		t.Errorf("the dead letters afterwards: %v, want [%s]", got, deadID)
	}
	if st, out := e.postAlert(otherA, capAlert(t, "flood.xml"), ""); st != http.StatusOK || out["status"] != "active" {
		t.Errorf("the other agency's alert afterwards: %d %v, want it active", st, out)
	}
	// And the dead letter still goes again when its agency asks.
	if res, out := e.do(http.MethodPost, deadPath+"/"+deadID+"/retry", tok, ""); res.StatusCode != http.StatusAccepted {
		t.Errorf("retry afterwards: %d %v", res.StatusCode, out)
	}
	var per []string
	for _, o := range ops {
		per = append(per, fmt.Sprintf("%s %d", o.id, len(cases[o.id])))
	}
	t.Logf("%d operations and the /check page, %d requests: %s", len(ops), total, strings.Join(per, ", "))
}

// hostile sends h and checks the answer: one of h.want, never a 5xx,
// a refusal as problem JSON naming its status, and within 10 seconds.
func (e *env) hostile(t *testing.T, h hostile) {
	t.Helper()
	var body io.Reader
	if h.body != nil {
		body = bytes.NewReader(h.body)
	}
	// A guard against a hang, not a measure of speed.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, h.method, e.url+h.path, body)
	if err != nil {
		t.Fatalf("%s: %v", h.name, err)
	}
	if h.ctype != "" {
		req.Header.Set("Content-Type", h.ctype)
	}
	if h.tok != "" {
		req.Header.Set("Authorization", "Bearer "+h.tok)
	}
	for k, v := range h.header {
		req.Header.Set(k, v)
	}
	start := time.Now()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("%s %.80s (%s): %v after %v", h.method, h.path, h.name, err, time.Since(start))
		return
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	where := fmt.Sprintf("%s %.80s (%s)", h.method, h.path, h.name)
	if res.StatusCode >= 500 {
		t.Errorf("%s: %d %.300s: a server error for a client's request", where, res.StatusCode, b)
		return
	}
	if !slices.Contains(h.want, res.StatusCode) {
		t.Errorf("%s: %d %.300s, want one of %v", where, res.StatusCode, b, h.want)
	}
	if res.StatusCode >= 400 {
		var p map[string]any
		if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" || json.Unmarshal(b, &p) != nil ||
			p["status"] != float64(res.StatusCode) || p["title"] == nil || p["type"] == nil {
			t.Errorf("%s: %d %s %.300s, want problem JSON naming its status", where, res.StatusCode, ct, b)
		}
		if res.StatusCode == 401 && res.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", where)
		}
	}
}

// hostileCheckPage posts hostile forms to the /check page (with and
// without its CSRF token) and returns how many: each answer is HTML with
// the right status, never a 5xx.
func (e *env) hostileCheckPage(t *testing.T, genuine string) int {
	t.Helper()
	res, err := http.Get(e.url + "/check")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET /check: %d", res.StatusCode)
	}
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if strings.HasSuffix(c.Name, "csrf") {
			cookie = c
		}
	}
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindSubmatch(page)
	if cookie == nil || m == nil {
		t.Fatalf("GET /check: no CSRF cookie or token")
	}
	csrf := string(m[1])
	form := func(v url.Values) []byte {
		v.Set("csrf_token", csrf)
		return []byte(v.Encode())
	}
	mp := func(message string) (string, []byte) {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		w.WriteField("csrf_token", csrf)
		w.WriteField("code", genuine)
		w.WriteField("message", message)
		w.Close()
		return w.FormDataContentType(), b.Bytes()
	}
	mpCT, mpBody := mp("")
	hugeCT, hugeBody := mp(strings.Repeat("a\n", 1<<19))
	formCT := "application/x-www-form-urlencoded"
	cases := []struct {
		name, method, query, ctype string
		withCookie                 bool
		body                       []byte
		want                       int
	}{
		{"the form", http.MethodGet, "", "", false, nil, 200},
		{"the form with a hostile query", http.MethodGet, "?code=%00&message=" + strings.Repeat("x", 10<<10) + "&lang=%ff", "", false, nil, 200},
		{"a genuine code", http.MethodPost, "", formCT, true, form(url.Values{"code": {genuine}}), 200},
		{"no CSRF cookie", http.MethodPost, "", formCT, false, form(url.Values{"code": {genuine}}), 403},
		{"no CSRF token", http.MethodPost, "", formCT, true, []byte("code=" + genuine), 403},
		{"empty", http.MethodPost, "", formCT, true, form(url.Values{}), 400},
		{"white space", http.MethodPost, "", formCT, true, form(url.Values{"code": {" \t "}, "message": {"\r\n"}}), 400},
		{"huge", http.MethodPost, "", formCT, true, form(url.Values{"message": {strings.Repeat("a", 1<<20)}}), 413},
		{"huge multipart", http.MethodPost, "", hugeCT, true, hugeBody, 413},
		{"past the message's limit", http.MethodPost, "", formCT, true, form(url.Values{"message": {strings.Repeat("a", 16385)}}), 200},
		{"binary", http.MethodPost, "", formCT, true, form(url.Values{"code": {"\x00\x01\xff\xfe"}, "message": {"\xff\xfe\xfd"}}), 200},
		{"control characters", http.MethodPost, "", formCT, true, form(url.Values{"code": {"\u0007\u001b[2J"}, "message": {"\u0000\u202e"}}), 200},
		{"a code of the wrong alphabet", http.MethodPost, "", formCT, true, form(url.Values{"code": {"ÑÑÑÑ-ÜÜÜÜ-ßßßß"}}), 200},
		{"a code of 10 KB", http.MethodPost, "", formCT, true, form(url.Values{"code": {strings.Repeat("K", 10<<10)}}), 200},
		{"JSON", http.MethodPost, "", "application/json", true, code(genuine), 403},
		{"multipart", http.MethodPost, "", mpCT, true, mpBody, 200},
		{"no Content-Type", http.MethodPost, "", "", true, form(url.Values{"code": {genuine}}), 403},
		{"text/plain", http.MethodPost, "", "text/plain", true, form(url.Values{"code": {genuine}}), 403},
		{"a form that does not parse", http.MethodPost, "", formCT, true, []byte("csrf_token=" + csrf + "&code=%zz"), 400},
	}
	for _, c := range cases {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		var body io.Reader
		if c.body != nil {
			body = bytes.NewReader(c.body)
		}
		req, _ := http.NewRequestWithContext(ctx, c.method, e.url+"/check"+c.query, body)
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		if c.withCookie {
			req.AddCookie(cookie)
		}
		req.Header.Set("Origin", e.url)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("%s /check (%s): %v", c.method, c.name, err)
			cancel()
			continue
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		cancel()
		if res.StatusCode != c.want || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
			t.Errorf("%s /check (%s): %d %s %.200s, want %d HTML", c.method, c.name, res.StatusCode, res.Header.Get("Content-Type"), b, c.want)
		}
	}
	return len(cases)
}

func code(s string) []byte { b, _ := json.Marshal(map[string]string{"code": s}); return b }
