package pages_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cedula/cedula/issuer/passkey/passkeytest"
)

func TestAccount(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	ana := e.citizen("Ana")
	b := e.browser()
	_, first := b.enrolPasskey(e.enrol(ana), "Teléfono")
	firstID := passkeytest.B64(first)

	// Add a second passkey.
	wantPage(t, b.get("/account"), http.StatusOK, "es", "Añadir otra llave de acceso")
	opts := options(t, b.postJSON("/account/passkeys/begin", `{}`))
	exclude, _ := opts["publicKey"].(map[string]any)["excludeCredentials"].([]any)
	if len(exclude) != 1 {
		t.Errorf("excludeCredentials: got %v, want the first passkey", exclude)
	}
	cred, second := e.auth.Create(t, opts, passkeytest.Gesture{})
	if a := finishOK(t, b.postJSON("/account/passkeys/finish", map[string]any{"credential": json.RawMessage(cred), "name": "Llave USB"})); a.Redirect != "/account?done=added" {
		t.Errorf("redirect: got %q", a.Redirect)
	}
	// The confirmation takes the focus as the page loads, so a screen
	// reader reads it out.
	wantPage(t, b.get("/account?done=added"), http.StatusOK, "es", "Llave de acceso creada. Ya puedes usarla para iniciar sesión.",
		`<div class="notice" id="notice" role="status" tabindex="-1" autofocus>`, "Teléfono", "Llave USB")

	// Rename.
	wantRedirect(t, b.postForm("/account/passkeys/rename", url.Values{"id": {firstID}, "name": {"Mi Android"}}), "/account?done=renamed")
	if p, _ := e.store.Passkey(ctx, first); p.Name != "Mi Android" {
		t.Errorf("name: got %q, want Mi Android", p.Name)
	}
	r := b.postForm("/account/passkeys/rename", url.Values{"id": {firstID}, "name": {"   "}})
	wantPage(t, r, http.StatusBadRequest, "es", "Escribe un nombre de 1 a 64 caracteres.", `href="#rename-`+firstID+`"`, `id="rename-`+firstID+`"`)
	r = b.postForm("/account/passkeys/rename", url.Values{"id": {firstID}, "name": {strings.Repeat("x", 65)}})
	wantPage(t, r, http.StatusBadRequest, "es", "Escribe un nombre")
	r = b.postForm("/account/passkeys/rename", url.Values{"id": {"!!"}, "name": {"x"}})
	wantPage(t, r, http.StatusBadRequest, "es", "Solicitud no válida")

	// Another citizen's passkey is not ours to rename or remove.
	bob := e.browser()
	_, bobKey := bob.enrolPasskey(e.enrol(e.citizen("Bob")), "Bob's")
	r = b.postForm("/account/passkeys/remove", url.Values{"id": {passkeytest.B64(bobKey)}})
	wantPage(t, r, http.StatusNotFound, "es", "Esa llave de acceso ya no existe.")
	if _, err := e.store.Passkey(ctx, bobKey); err != nil {
		t.Errorf("Bob's passkey: got %v, want it kept", err)
	}

	// Remove one of two.
	wantRedirect(t, b.postForm("/account/passkeys/remove", url.Values{"id": {passkeytest.B64(second)}}), "/account?done=removed")

	// The last passkey goes only while recovery codes remain.
	if err := e.store.ReplaceRecoveryCodes(ctx, ana.ID, nil); err != nil {
		t.Fatal(err)
	}
	r = b.postForm("/account/passkeys/remove", url.Values{"id": {firstID}})
	wantPage(t, r, http.StatusConflict, "es", "No puedes eliminar tu única llave de acceso", "No te quedan códigos")
	b.lang = "en"
	b.setCookie("lang", "en")
	r = b.postForm("/account/passkeys/remove", url.Values{"id": {firstID}})
	wantPage(t, r, http.StatusConflict, "en", "You cannot remove your only passkey")
	b.setCookie("lang", "es")

	// New recovery codes, shown once on a page.
	r = b.postForm("/account/recovery-codes", nil)
	wantPage(t, r, http.StatusOK, "es", "Tus códigos de recuperación", "Tus códigos anteriores ya no sirven.")
	if n := strings.Count(r.body, "<li><code>"); n != 10 {
		t.Errorf("codes on the page: got %d, want 10", n)
	}
	if left, _ := e.store.RecoveryCodesLeft(ctx, ana.ID); left != 10 {
		t.Errorf("stored codes: got %d, want 10", left)
	}
	wantRedirect(t, b.postForm("/account/passkeys/remove", url.Values{"id": {firstID}}), "/account?done=removed")

	// Without a session: pages send to login, JSON calls get 401.
	anon := e.browser()
	anon.get("/login")
	wantRedirect(t, anon.get("/account"), "/login")
	wantRedirect(t, anon.postForm("/account/recovery-codes", nil), "/login")
	wantProblem(t, anon.postJSON("/account/passkeys/begin", `{}`), http.StatusUnauthorized, "session-required")
}

func TestRecovery(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	ana := e.citizen("Ana")
	old := e.browser()
	_, lost := old.enrolPasskey(e.enrol(ana), "Perdido")
	// A second enrolment replaces the codes of the first.
	codes, other := old.enrolPasskey(e.enrol(ana), "Otro")
	wantPage(t, old.get("/account"), http.StatusOK, "es")

	b := e.browser()
	wantPage(t, b.get("/recover"), http.StatusOK, "es", "Recuperar el acceso", `autocomplete="off"`, `for="code"`)

	for _, bad := range []string{"", "ABCD", "0000-0000-0000-0000", codes[0] + "X", "ÁBCD-EFGH-JKMN-PQRS"} {
		r := b.postForm("/recover", url.Values{"code": {bad}})
		wantPage(t, r, http.StatusBadRequest, "es", `role="alert"`, `href="#code"`, `aria-invalid="true"`)
	}
	// Before a code, no recovery ceremony.
	wantPage(t, b.get("/recover/passkey"), http.StatusUnauthorized, "es", "La recuperación caducó")
	wantProblem(t, b.postJSON("/recover/begin", `{}`), http.StatusUnauthorized, "recovery-expired")

	// The code as a person might type it: lower case, spaces, O for 0.
	typed := strings.ToLower(strings.ReplaceAll(codes[3], "-", " "))
	typed = strings.ReplaceAll(typed, "0", "o")
	r := b.postForm("/recover", url.Values{"code": {typed}})
	wantRedirect(t, r, "/recover/passkey")
	recoveryValue := b.cookie("cedula_recovery")
	if recoveryValue == "" {
		t.Fatal("recovery cookie: got none")
	}
	// A recovery session is not a login.
	probe := e.browser()
	probe.setCookie("cedula_session", recoveryValue)
	wantRedirect(t, probe.get("/account"), "/login")

	wantPage(t, b.get("/recover/passkey"), http.StatusOK, "es", "Registra una nueva llave de acceso", `name="removeOthers"`)
	opts := options(t, b.postJSON("/recover/begin", `{}`))
	cred, fresh := e.auth.Create(t, opts, passkeytest.Gesture{})
	a := finishOK(t, b.postJSON("/recover/finish", map[string]any{"credential": json.RawMessage(cred), "name": "Nuevo", "removeOthers": true}))
	if a.Redirect != "/account?done=recovered" {
		t.Errorf("redirect: got %q", a.Redirect)
	}
	keys, _ := e.store.PasskeysOf(ctx, ana.ID)
	if len(keys) != 1 || string(keys[0].ID) != string(fresh) {
		t.Errorf("passkeys after recovery: got %d, want only the new one", len(keys))
	}
	for _, id := range [][]byte{lost, other} {
		if _, err := e.store.Passkey(ctx, id); err == nil {
			t.Errorf("an old passkey is still there")
		}
	}
	wantPage(t, b.get("/account?done=recovered"), http.StatusOK, "es", "Nueva llave de acceso creada. Ya puedes usarla para iniciar sesión.", "Nuevo")
	// The other browser's session ended with the old passkeys.
	wantRedirect(t, old.get("/account"), "/login")
	// The code was single use, and the recovery session is over.
	b.get("/recover")
	wantPage(t, b.postForm("/recover", url.Values{"code": {codes[3]}}), http.StatusBadRequest, "es", "Ese código no es válido")
	wantPage(t, b.get("/recover/passkey"), http.StatusUnauthorized, "es")
	if left, _ := e.store.RecoveryCodesLeft(ctx, ana.ID); left != 9 {
		t.Errorf("codes left: got %d, want 9", left)
	}

	// Without "remove my other passkeys", the others stay.
	c := e.browser()
	c.get("/recover")
	wantRedirect(t, c.postForm("/recover", url.Values{"code": {codes[4]}}), "/recover/passkey")
	c.get("/recover/passkey")
	opts = options(t, c.postJSON("/recover/begin", `{}`))
	cred, _ = e.auth.Create(t, opts, passkeytest.Gesture{})
	finishOK(t, c.postJSON("/recover/finish", map[string]any{"credential": json.RawMessage(cred)}))
	if keys, _ := e.store.PasskeysOf(ctx, ana.ID); len(keys) != 2 {
		t.Errorf("passkeys: got %d, want 2", len(keys))
	}
	wantPage(t, b.get("/account"), http.StatusOK, "es", "Nuevo")
	if strings.Contains(e.logs.String(), codes[4]) || strings.Contains(e.logs.String(), codes[3]) {
		t.Errorf("logs contain a recovery code")
	}
}
