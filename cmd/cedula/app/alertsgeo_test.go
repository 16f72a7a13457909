package app_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/mobile-api/mobileclient"
	"github.com/cedula/cedula/wallet/inbox"
)

// Two departments Cedula knows by geocode: squares standing for
// Montevideo and, north-east of it, Canelones.
const testAreas = `areas:
  - value_name: ISO3166-2
    value: UY-MO
    name: {es: Montevideo, en: Montevideo}
    polygons: ["-35.0,-56.5 -34.7,-56.5 -34.7,-56.0 -35.0,-56.0 -35.0,-56.5"]
  - value_name: ISO3166-2
    value: UY-CA
    name: {es: Canelones, en: Canelones}
    polygons: ["-34.7,-56.3 -34.3,-56.3 -34.3,-55.5 -34.7,-55.5 -34.7,-56.3"]
`

// geoAlert is a targeted storm warning whose one area is what area
// holds (<polygon>, <geocode>…), sent now by id.
func geoAlert(id, area string) string {
	now := time.Now().UTC()
	return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>%s</identifier>
  <sender>avisos@sinae.example</sender>
  <sent>%s</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>es-UY</language>
    <category>Met</category>
    <event>Tormenta fuerte</event>
    <urgency>Expected</urgency>
    <severity>Severe</severity>
    <certainty>Likely</certainty>
    <expires>%s</expires>
    <headline>Tormentas fuertes esta tarde</headline>
    <area>
      <areaDesc>Zona del aviso</areaDesc>
      %s
    </area>
  </info>
</alert>`, id, now.Format("2006-01-02T15:04:05-00:00"), now.Add(6*time.Hour).Format("2006-01-02T15:04:05-00:00"), area)
}

// TestTargetedAlertsByGeocode: with the areas Cedula knows by geocode, a
// targeted alert that names a department by geocode alone reaches the
// citizens whose shared point lies in it and those who shared that
// department; an alert whose polygon crosses a department reaches those
// who shared the department, not a point of it outside the polygon; a
// targeted alert with an area that cannot be matched is refused (a
// broadcast one is not: the phone matches it). An alert posted again is
// a retry: 200, no one sent it twice; other content under its key a 409.
// The app lists the areas; a share that is not a point or a known area is
// refused.
func TestTargetedAlertsByGeocode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "areas.yaml")
	if err := os.WriteFile(path, []byte(testAreas), 0o600); err != nil {
		t.Fatal(err)
	}
	s, u := startServer(t, func(c *config.Config) { c.AlertAreas = path })
	e := &env{t: t, s: s, url: u}
	e.key, _ = jose.NewClientKey(keys.ES256)
	ctx := context.Background()
	e.agency("sinae", scopes.Alerts)
	if _, err := e.s.Consent.PutPurpose(ctx, consent.Purpose{ID: "storm-alerts", Name: consent.Text{ES: "Avisos de tormenta", EN: "Storm warnings"},
		Description: consent.Text{ES: "Le avisamos si su zona corre peligro.", EN: "We warn you when your area is in danger."},
		Controller:  "sinae", LegalBasis: consent.PublicTask, Categories: []string{"location"}, DPV: "dpv:PublicSafety",
		NoticeVersion: "1", NoticeURL: "https://sinae.example/privacy"}); err != nil {
		t.Fatal(err)
	}
	tok := e.token("sinae", scopes.Alerts)
	f := ptrF
	geocode := func(v string) *mobileclient.Geocode { return &mobileclient.Geocode{ValueName: "ISO3166-2", Value: v} }
	citizens := map[string]string{}
	var api *mobileclient.ClientWithResponses
	for name, share := range map[string]mobileclient.ShareLocationJSONRequestBody{
		"Ana":   {Lat: f(-34.9), Lon: f(-56.2)}, // a point in Montevideo
		"Beto":  {Area: geocode("UY-CA")},       // Canelones
		"Carla": {Area: geocode("UY-MO")},       // Montevideo
		"Dario": {Lat: f(-34.5), Lon: f(-55.8)}, // a point in Canelones
	} {
		var id string
		id, api = e.walletCitizen(name)
		citizens[name] = id
		if r, err := api.ShareLocationWithResponse(ctx, nil, share); err != nil || r.StatusCode() != http.StatusNoContent {
			t.Fatalf("%s shares: %v %d %s", name, err, r.StatusCode(), r.Body)
		}
	}
	areas, err := api.ListAlertAreasWithResponse(ctx, nil)
	if err != nil || areas.JSON200 == nil || len(areas.JSON200.Areas) != 2 || areas.JSON200.Areas[1].Area.Value != "UY-CA" ||
		areas.JSON200.Areas[1].Name.Es != "Canelones" {
		t.Fatalf("the areas: %v %s", err, areas.Body)
	}
	for name, share := range map[string]mobileclient.ShareLocationJSONRequestBody{
		"an unknown area":     {Area: geocode("UY-XX")},
		"a point and an area": {Lat: f(-34.9), Lon: f(-56.2), Area: geocode("UY-MO")},
		"nothing":             {},
		"a latitude alone":    {Lat: f(-34.9)},
		"a latitude of -90.5": {Lat: f(-90.5), Lon: f(0)},
		"an empty value_name": {Area: &mobileclient.Geocode{ValueName: "", Value: "UY-MO"}},
	} {
		if r, _ := api.ShareLocationWithResponse(ctx, nil, share); r.StatusCode() != http.StatusBadRequest {
			t.Errorf("sharing %s: %d %s, want 400", name, r.StatusCode(), r.Body)
		}
	}

	post := func(xml, query string) (int, map[string]any) { return e.postAlert(tok, xml, query) }

	// Named by geocode alone: Ana (her point is in Montevideo) and Carla
	// (she shared Montevideo).
	first := geoAlert("SINAE-1", `<geocode><valueName>ISO3166-2</valueName><value>UY-MO</value></geocode>`)
	if st, out := post(first, "?mode=targeted&purpose=storm-alerts"); st != http.StatusCreated || out["reached"] != 2.0 {
		t.Errorf("an alert for Montevideo by geocode: %d %v, want 201, two reached", st, out)
	}
	// The agency never got the answer and posts it again: 200, nothing
	// new stored, no one sent it twice (counted below). The same key with
	// other content, or in another mode, is a 409.
	if st, out := post(first, "?mode=targeted&purpose=storm-alerts"); st != http.StatusOK || out["reached"] != 2.0 || out["status"] != "active" {
		t.Errorf("the same alert again: %d %v, want 200, two reached", st, out)
	}
	if st, out := post(strings.Replace(first, "Tormentas fuertes", "Tormentas muy fuertes", 1), "?mode=targeted&purpose=storm-alerts"); st != http.StatusConflict {
		t.Errorf("other content under the same key: %d %v, want 409", st, out)
	}
	if st, out := post(first, ""); st != http.StatusConflict {
		t.Errorf("the same alert as a broadcast: %d %v, want 409", st, out)
	}
	// A polygon across Canelones' west, not reaching Dario's point: Beto,
	// who shared Canelones, alone.
	if st, out := post(geoAlert("SINAE-2", `<polygon>-34.6,-56.2 -34.4,-56.2 -34.4,-56.0 -34.6,-56.0 -34.6,-56.2</polygon>`), "?mode=targeted&purpose=storm-alerts"); st != http.StatusCreated || out["reached"] != 1.0 {
		t.Errorf("an alert across Canelones' west: %d %v, want 201, one reached", st, out)
	}
	// A circle around Dario's point: Dario and Beto (Canelones).
	if st, out := post(geoAlert("SINAE-3", `<circle>-34.5,-55.8 5</circle>`), "?mode=targeted&purpose=storm-alerts"); st != http.StatusCreated || out["reached"] != 2.0 {
		t.Errorf("an alert around a point of Canelones: %d %v, want 201, two reached", st, out)
	}
	// Geocodes Cedula does not know: refused targeted, taken broadcast.
	unknown := `<geocode><valueName>SAME</valueName><value>012345</value></geocode>`
	if st, out := post(geoAlert("SINAE-4", unknown), "?mode=targeted&purpose=storm-alerts"); st != http.StatusBadRequest ||
		!strings.Contains(fmt.Sprint(out["detail"]), "Zona del aviso") {
		t.Errorf("a targeted alert with an unknown geocode: %d %v, want 400 naming the area", st, out)
	}
	if st, out := post(geoAlert("SINAE-5", unknown), ""); st != http.StatusCreated {
		t.Errorf("a broadcast alert with an unknown geocode: %d %v, want 201", st, out)
	}
	// Each citizen got what reached them.
	e.deliverAll()
	for name, want := range map[string]int{"Ana": 1, "Beto": 2, "Carla": 1, "Dario": 1} {
		page, err := e.s.Inbox.Messages(ctx, citizens[name], 0, 100, false)
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for _, m := range page {
			if m.Kind == inbox.JourneyMessage {
				got++
			}
		}
		if got != want {
			t.Errorf("%s has %d alerts in the inbox, want %d", name, got, want)
		}
	}
}
