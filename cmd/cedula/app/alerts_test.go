package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/mobile-api/mobileclient"
)

// events is what a stream brought so far, kept for the test to search.
type events struct {
	mu  sync.Mutex
	got []rawEvent
}

// rawEvent is one event of a stream, its data undecoded.
type rawEvent struct{ Type, Data string }

// openRawStream opens the citizen's stream and keeps every event.
func openRawStream(t *testing.T, api *mobileclient.ClientWithResponses) (*events, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	res, err := api.StreamInbox(ctx, &mobileclient.StreamInboxParams{})
	if err != nil || res.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("stream: %v", err)
	}
	evs := &events{}
	go func() {
		for ev := range mobileclient.Events(res.Body) {
			evs.mu.Lock()
			evs.got = append(evs.got, rawEvent{ev.Type, ev.Data})
			evs.mu.Unlock()
		}
	}()
	return evs, cancel
}

// find returns an event of type typ that satisfies ok, if one came.
func (evs *events) find(typ string, ok func(map[string]any) bool) map[string]any {
	evs.mu.Lock()
	defer evs.mu.Unlock()
	for _, ev := range evs.got {
		var m map[string]any
		if ev.Type == typ && json.Unmarshal([]byte(ev.Data), &m) == nil && ok(m) {
			return m
		}
	}
	return nil
}

// nextEvent waits for an event of type typ that satisfies ok.
func nextEvent(t *testing.T, evs *events, typ string, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := evs.find(typ, ok); m != nil {
			return m
		}
	}
	t.Fatalf("no such %s event came", typ)
	return nil
}

// noEvent checks that no event of type typ satisfying ok came, or comes
// within two seconds.
func noEvent(t *testing.T, evs *events, typ string, ok func(map[string]any) bool) {
	t.Helper()
	time.Sleep(2 * time.Second)
	if m := evs.find(typ, ok); m != nil {
		t.Fatalf("an unexpected %s event: %v", typ, m)
	}
}

// capAlert reads a CAP test alert, its dates moved to today and tomorrow
// so that it is in force.
func capAlert(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../../journeys/cap/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	return strings.NewReplacer("2026-10-14", now.Format(time.DateOnly), "2026-10-15", now.AddDate(0, 0, 1).Format(time.DateOnly)).Replace(string(b))
}

// TestAlertsReachWallets: a real-world-shaped CAP alert with a polygon,
// published as a broadcast, reaches every connected wallet over the
// stream, with no personal data used; its update, published as a
// targeted alert under a public-task purpose, reaches the inbox of the
// citizen whose shared location is inside and not the other's (each
// ledger decision audited), and supersedes the first for every wallet; a
// cancel withdraws it; a wallet connecting later gets what is in force.
// Invalid, expired and foreign-referencing alerts are refused.
func TestAlertsReachWallets(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.agency("emergencias", scopes.Alerts)
	if _, err := e.s.Consent.PutPurpose(ctx, consent.Purpose{ID: "flood-alerts", Name: consent.Text{ES: "Avisos de inundación", EN: "Flood warnings"},
		Description: consent.Text{ES: "Le avisamos si su zona corre peligro.", EN: "We warn you when your area is in danger."},
		Controller:  "emergencias", LegalBasis: consent.PublicTask, Categories: []string{"location"}, DPV: "dpv:PublicSafety",
		NoticeVersion: "1", NoticeURL: "https://emergencias.example/privacy"}); err != nil {
		t.Fatal(err)
	}
	tok := e.token("emergencias", scopes.Alerts)
	ana, anaAPI := e.walletCitizen("Ana")
	_, betoAPI := e.walletCitizen("Beto")
	for api, at := range map[*mobileclient.ClientWithResponses][2]float64{anaAPI: {39.20, -0.42}, betoAPI: {39.47, -0.376}} {
		if r, err := api.ShareLocationWithResponse(ctx, nil, mobileclient.ShareLocationJSONRequestBody{Lat: &at[0], Lon: &at[1]}); err != nil || r.StatusCode() != 204 {
			t.Fatalf("share location: %v %d", err, r.StatusCode())
		}
	}
	if r, _ := anaAPI.ShareLocationWithResponse(ctx, nil, mobileclient.ShareLocationJSONRequestBody{Lat: ptrF(91), Lon: ptrF(0)}); r.StatusCode() != http.StatusBadRequest {
		t.Errorf("a latitude of 91: %d, want 400", r.StatusCode())
	}
	anaStream, stopA := openRawStream(t, anaAPI)
	defer stopA()
	betoStream, stopB := openRawStream(t, betoAPI)
	defer stopB()

	post := func(xml, query string) (int, map[string]any) { return e.postAlert(tok, xml, query) }
	const original = "alertas@emergencias.cv.example,ES-CV-2026-0412,"
	key := func(prefix, status string) func(map[string]any) bool {
		return func(m map[string]any) bool {
			k, _ := m["key"].(string)
			return strings.HasPrefix(k, prefix) && m["status"] == status
		}
	}
	// 1. Broadcast: both wallets get it.
	if st, out := post(capAlert(t, "flood.xml"), ""); st != http.StatusCreated || out["code"] == nil {
		t.Fatalf("publish: %d %v", st, out)
	}
	for _, ch := range []*events{anaStream, betoStream} {
		a := nextEvent(t, ch, "alert", key(original, "active"))
		infos, _ := a["infos"].([]any)
		if a["agency"] != "emergencias" || len(infos) != 2 || a["seal"] == nil || a["cap_status"] != "Actual" {
			t.Errorf("the alert on the stream: %v", a)
		}
	}
	// 2. The update, targeted: only Ana, inside, gets it in her inbox.
	if st, out := post(capAlert(t, "flood-update.xml"), "?mode=targeted&purpose=flood-alerts"); st != http.StatusCreated || out["reached"] != 1.0 {
		t.Fatalf("targeted update: %d %v", st, out)
	}
	m := nextEvent(t, anaStream, "message", func(m map[string]any) bool { return m["kind"] == "journey_message" })
	why, _ := m["why"].(map[string]any)
	sender, _ := m["sender"].(map[string]any)
	if why == nil || !strings.HasPrefix(why["alert"].(string), "alertas@emergencias.cv.example,ES-CV-2026-0413,") || why["legal_basis"] != "public_task" ||
		sender["verified"] != true {
		t.Errorf("Ana's targeted alert: %v", m)
	}
	noEvent(t, betoStream, "message", func(m map[string]any) bool { return m["kind"] == "journey_message" })
	// The original is superseded for every wallet.
	nextEvent(t, anaStream, "alert", key(original, "superseded"))
	// 3. The cancel withdraws the original: every wallet hears it.
	if st, out := post(capAlert(t, "flood-cancel.xml"), ""); st != http.StatusCreated {
		t.Fatalf("cancel: %d %v", st, out)
	}
	for _, ch := range []*events{anaStream, betoStream} {
		nextEvent(t, ch, "alert", key(original, "cancelled"))
		nextEvent(t, ch, "alert", func(m map[string]any) bool { return m["msg_type"] == "Cancel" })
	}
	// 4. A wallet that connects now gets what is in force: the cancel,
	// not the cancelled alert.
	late, stopL := openRawStream(t, betoAPI)
	defer stopL()
	nextEvent(t, late, "alert", func(m map[string]any) bool { return m["msg_type"] == "Cancel" && m["status"] == "active" })

	// Refusals.
	for _, tc := range []struct {
		name, xml, query string
		status           int
	}{
		{"not CAP", "<alert/>", "", 400},
		{"a self-intersecting polygon", strings.Replace(capAlert(t, "flood.xml"), "39.1700,-0.4500 39.2300,-0.5200", "39.0000,-0.3000 39.2300,-0.5200", 1), "", 400},
		{"expired on arrival", strings.NewReplacer("2026-10-14", "2025-01-01", "2026-10-15", "2025-01-02", "ES-CV-2026-0412", "ES-CV-2026-0499").Replace(mustRead(t, "flood.xml")), "", 422},
		{"targeted without a purpose", strings.Replace(capAlert(t, "flood.xml"), "ES-CV-2026-0412", "ES-CV-2026-0500", 1), "?mode=targeted", 400},
	} {
		if st, out := post(tc.xml, tc.query); st != tc.status {
			t.Errorf("%s: %d %v, want %d", tc.name, st, out, tc.status)
		}
	}
	if es, _ := e.s.Journeys.Enrolments(ctx, ana); len(es) != 0 {
		t.Errorf("an alert enrolled Ana in a journey: %+v", es)
	}
}

func mustRead(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../../journeys/cap/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func ptrF(f float64) *float64 { return &f }

// postAlert publishes a CAP alert with the agency's token and returns the
// answer's status and JSON.
func (e *env) postAlert(tok, xml, query string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.url+"/alerts"+query, strings.NewReader(xml))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/cap+xml")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}
