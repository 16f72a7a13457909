package mobileapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	mobileapi "github.com/cedula/cedula/mobile-api"
)

// TestDevices: a device registered with an Idempotency-Key is listed
// without its push token, which the database holds only sealed; another
// citizen neither sees nor removes it; names are cleaned as passkeys'.
func TestDevices(t *testing.T) {
	e := newEnv(t)
	const token = "fcm-token-of-ana-0123456789"
	body := `{"platform":"android","push_token":"` + token + `","name":"  Ana's\tphone "}`
	r := e.do("POST", "/mobile/v1/devices", "DPoP tok-a", body, "Idempotency-Key", "dev-1").want(t, http.StatusCreated)
	var d mobileapi.Device
	json.Unmarshal(r.Body.Bytes(), &d)
	if d.Name != "Ana's phone" || d.Platform != "android" || d.Id == "" {
		t.Fatalf("registered: got %+v, want Ana's phone on android", d)
	}
	if again := e.do("POST", "/mobile/v1/devices", "DPoP tok-a", body, "Idempotency-Key", "dev-1").want(t, http.StatusCreated); again.Body.String() != r.Body.String() {
		t.Errorf("the same key again: got %s, want %s", again.Body, r.Body)
	}
	e.do("POST", "/mobile/v1/devices", "DPoP tok-a", `{"platform":"ios","push_token":"x","name":"\u0000 "}`, "Idempotency-Key", "dev-2").want(t, http.StatusBadRequest)
	e.do("POST", "/mobile/v1/devices", "DPoP tok-a", `{"platform":"symbian","push_token":"x","name":"n"}`, "Idempotency-Key", "dev-3").want(t, http.StatusBadRequest)

	list := e.do("GET", "/mobile/v1/devices", "DPoP tok-a", "").want(t, http.StatusOK)
	if !strings.Contains(list.Body.String(), d.Id) || strings.Contains(list.Body.String(), token) {
		t.Errorf("A's list: %s, want the device without its token", list.Body)
	}
	var raw []byte
	if err := e.db.QueryRow(`SELECT sealed FROM mobile_devices WHERE id = $1`, d.Id).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), token) || strings.Contains(string(raw), "phone") {
		t.Error("the stored row holds the push token or the name in clear")
	}

	if b := e.do("GET", "/mobile/v1/devices", "DPoP tok-b", "").want(t, http.StatusOK); strings.Contains(b.Body.String(), d.Id) {
		t.Errorf("B's list shows A's device: %s", b.Body)
	}
	e.do("DELETE", "/mobile/v1/devices/"+d.Id, "DPoP tok-b", "").want(t, http.StatusNotFound)
	e.do("DELETE", "/mobile/v1/devices/"+d.Id, "DPoP tok-a", "").want(t, http.StatusNoContent)
	e.do("DELETE", "/mobile/v1/devices/"+d.Id, "DPoP tok-a", "").want(t, http.StatusNotFound)
}

// TestPasskeys: list newest first, rename with the name cleaned, remove;
// the last passkey stays (409 last-passkey); another citizen's are not
// found.
func TestPasskeys(t *testing.T) {
	e := newEnv(t)
	var page mobileapi.PasskeyPage
	json.Unmarshal(e.do("GET", "/mobile/v1/passkeys", "DPoP tok-a", "").want(t, http.StatusOK).Body.Bytes(), &page)
	if len(page.Items) != 2 || page.Items[0].Name != "Laptop" {
		t.Fatalf("A's passkeys: got %+v, want Laptop then Phone", page.Items)
	}
	a1, a2 := page.Items[1].Id, page.Items[0].Id
	var pk mobileapi.Passkey
	json.Unmarshal(e.do("PATCH", "/mobile/v1/passkeys/"+a1, "DPoP tok-a", `{"name":" My  phone "}`).want(t, http.StatusOK).Body.Bytes(), &pk)
	if pk.Name != "My phone" || pk.Id != a1 {
		t.Errorf("renamed: got %+v, want My phone", pk)
	}
	e.do("PATCH", "/mobile/v1/passkeys/"+a1, "DPoP tok-a", `{"name":"`+strings.Repeat("x", 65)+`"}`).want(t, http.StatusBadRequest)
	e.do("PATCH", "/mobile/v1/passkeys/"+a1, "DPoP tok-b", `{"name":"mine"}`).want(t, http.StatusNotFound)
	e.do("DELETE", "/mobile/v1/passkeys/"+a1, "DPoP tok-b", "").want(t, http.StatusNotFound)
	e.do("DELETE", "/mobile/v1/passkeys/A", "DPoP tok-a", "").want(t, http.StatusNotFound) // not base64url of an id
	e.do("DELETE", "/mobile/v1/passkeys/"+a1, "DPoP tok-a", "").want(t, http.StatusNoContent)
	if r := e.do("DELETE", "/mobile/v1/passkeys/"+a2, "DPoP tok-a", "").want(t, http.StatusConflict); !strings.HasSuffix(r.problem.Type, "/problems/last-passkey") {
		t.Errorf("removing the last passkey: got %+v, want the last-passkey problem", r.problem)
	}
}
