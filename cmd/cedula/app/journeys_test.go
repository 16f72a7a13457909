package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cedula/cedula/internal/browsertest"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/journeys"
)

// sealedMessage registers an agency and seals a message of it to a
// citizen, as a journey's delivery does.
func (e *env) sealedMessage(lang, body string) journeys.Sealed {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.s.Store.Client(ctx, "social-security"); err != nil {
		if err := e.s.Store.PutClient(ctx, issuer.Client{ID: "social-security", Name: "Banco de Previsión Social", GrantTypes: []string{issuer.GrantClientCredentials},
			AuthMethod: issuer.AuthPrivateKeyJWT, JWKS: mustJWKS(e.t, e), SubjectType: issuer.SubjectPairwise}); err != nil {
			e.t.Fatal(err)
		}
	}
	s, err := e.s.Seals.Seal(ctx, journeys.Message{Agency: "social-security", Lang: lang, Subject: "Una ayuda para usted", Body: body})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// TestMessageCheck, over HTTP: anyone checks a message by its code, by
// the message pasted, or both, without logging in; a changed text is
// flagged, an unknown code is not ours; a request without either is a
// problem; past the limit, 429 with Retry-After.
func TestMessageCheck(t *testing.T) {
	e := newEnv(t)
	sealed := e.sealedMessage("es", "Hola, Ana: puede que ahora tenga derecho a la ayuda por hijos. Solicítela en su oficina de siempre.")
	check := func(body string) (int, map[string]any) {
		t.Helper()
		res, out := e.do(http.MethodPost, "/messages/check", "", body)
		return res.StatusCode, out
	}
	if st, out := check(`{"code":"` + strings.ToLower(sealed.Code) + `"}`); st != 200 || out["genuine"] != true ||
		out["agency"].(map[string]any)["name"] != "Banco de Previsión Social" || out["sent"] == nil || out["text_matches"] != nil {
		t.Errorf("by code: %d %v", st, out)
	}
	msg, _ := jsonString(sealed.Text)
	if st, out := check(`{"message":` + msg + `}`); st != 200 || out["genuine"] != true || out["text_matches"] != true {
		t.Errorf("by the message: %d %v", st, out)
	}
	changed, _ := jsonString(strings.Replace(sealed.Text, "oficina de siempre", "web ayudas-gob.example", 1))
	if st, out := check(`{"message":` + changed + `}`); st != 200 || out["genuine"] != true || out["text_matches"] != false {
		t.Errorf("a changed message: %d %v", st, out)
	}
	if st, out := check(`{"code":"ABCD-EFGH-JKMN","message":"Su paquete está retenido"}`); st != 200 || out["genuine"] != false || out["agency"] != nil {
		t.Errorf("an unknown code: %d %v", st, out)
	}
	for _, bad := range []string{`{}`, `{"code":"  "}`, `{"code":1}`, `{"code":"x","extra":1}`} {
		if st, out := check(bad); st != http.StatusBadRequest {
			t.Errorf("%s: %d %v, want 400", bad, st, out)
		}
	}
	var res *http.Response
	for range 40 {
		if res, _ = e.do(http.MethodPost, "/messages/check", "", `{"code":"ABCD-EFGH-JKMN"}`); res.StatusCode == http.StatusTooManyRequests {
			break
		}
	}
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Errorf("past the limit: %d, Retry-After %q", res.StatusCode, res.Header.Get("Retry-After"))
	}
}

// TestMessageCheckInChromium: the public page, in Spanish and English,
// says a genuine message's code is ours and names the agency, flags a
// pasted message that was changed, and says an unknown code is not ours;
// axe-core finds nothing on any of them.
func TestMessageCheckInChromium(t *testing.T) {
	ctx := browsertest.Start(t, 2*time.Minute)
	axe := browsertest.AxeSource(t)
	e := newEnv(t)
	sealed := e.sealedMessage("es", "Hola, Ana: su certificado de residencia caduca el mes que viene. Puede renovarlo en su cartera.")
	tab := browsertest.Tab{T: t, Ctx: ctx}
	checkWith := func(what, code, message string) string {
		t.Helper()
		tab.Do("open the check page", chromedp.Navigate(e.url+"/check"), chromedp.WaitVisible(chromedp.ID("code")))
		c, _ := jsonString(code)
		m, _ := jsonString(message)
		tab.Eval(`document.getElementById("code").value = ` + c + `; document.getElementById("message").value = ` + m + `; "ok"`)
		tab.Do("submit "+what, chromedp.Submit(chromedp.CSS(`form[action="/check"]`)))
		tab.WaitTrue(`document.readyState === "complete" && document.getElementById("verdict") !== null`)
		browsertest.CheckAxe(t, ctx, axe, "check: "+what)
		return tab.Eval(`document.querySelector("main").innerText`)
	}
	tab.Do("open the check page", chromedp.Navigate(e.url+"/check"), chromedp.WaitVisible(chromedp.ID("code")))
	browsertest.CheckAxe(t, ctx, axe, "check page")
	for _, lang := range []string{"es", "en"} {
		tab.Do("switch to "+lang, chromedp.Navigate(e.url+"/lang?to="+lang+"&next=/check"), chromedp.WaitVisible(chromedp.ID("code")))
		words := map[string][3]string{
			"es": {"Este mensaje es nuestro", "no es el que enviamos", "No es nuestro"},
			"en": {"This message is ours", "is not the one we sent", "Not ours"},
		}[lang]
		if body := checkWith("a genuine code ("+lang+")", sealed.Code, ""); !strings.Contains(body, words[0]) || !strings.Contains(body, "Banco de Previsión Social") {
			t.Errorf("a genuine code (%s): %s", lang, body)
		}
		changed := strings.Replace(sealed.Text, "en su cartera", "pagando 5 € en ayudas-gob.example", 1)
		if body := checkWith("a changed message ("+lang+")", "", changed); !strings.Contains(body, words[0]) || !strings.Contains(body, words[1]) {
			t.Errorf("a changed message (%s): %s", lang, body)
		}
		if body := checkWith("an unknown code ("+lang+")", "ZZZZ-ZZZZ-ZZZZ", ""); !strings.Contains(body, words[2]) || strings.Contains(body, words[0]) {
			t.Errorf("an unknown code (%s): %s", lang, body)
		}
	}
}

// jsonString is s as a JSON string.
func jsonString(s string) (string, error) {
	b, err := json.Marshal(s)
	return string(b), err
}
