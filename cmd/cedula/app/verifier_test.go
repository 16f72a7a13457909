package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/issuer/demo"
	"github.com/cedula/cedula/mobile-api/mobileclient"
	"github.com/cedula/cedula/verifier"
)

// identityQuery asks for a PID's given_name and age_over_18.
const identityQuery = `{"credentials":[{"id":"pid","format":"dc+sd-jwt","meta":{"vct_values":["%s/vct/pid/1"]},
	"claims":[{"path":["given_name"]},{"path":["age_over_18"]}]}]}`

// verification is an agency's presentation request as the agency API
// returns it.
type verification struct {
	ID, Status, Link, RequestURI string
	QRPNG, QRSVG                 string
	Failure                      *verifier.Failure
	Result                       *verifier.Result
}

func (e *env) verification(method, path, token, body string) (int, verification, map[string]any) {
	e.t.Helper()
	res, out := e.do(method, path, token, body)
	b, _ := json.Marshal(out)
	var v struct {
		ID         string            `json:"id"`
		Status     string            `json:"status"`
		Link       string            `json:"link"`
		RequestURI string            `json:"request_uri"`
		QRPNG      string            `json:"qr_png"`
		QRSVG      string            `json:"qr_svg"`
		Failure    *verifier.Failure `json:"failure"`
		Result     *verifier.Result  `json:"result"`
	}
	json.Unmarshal(b, &v)
	return res.StatusCode, verification{ID: v.ID, Status: v.Status, Link: v.Link, RequestURI: v.RequestURI, QRPNG: v.QRPNG,
		QRSVG: v.QRSVG, Failure: v.Failure, Result: v.Result}, out
}

// scanQR decodes the QR code of a PNG. The image is the code alone (no
// camera, no background), so the reader is told so (PURE_BARCODE): its
// finder-pattern search, made for photographs, misses about one
// generated code in ten, which a pure read decodes.
func scanQR(t *testing.T, pngBytes []byte) string {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(pngBytes))
	if err != nil {
		t.Fatalf("the QR code is not a PNG: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := gozxingqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
	if err != nil {
		t.Fatalf("the QR code does not decode: %v", err)
	}
	return res.GetText()
}

// TestVerifierWithOurWallet, over HTTP: the demo back end asks, under its
// identity-check purpose (consent), for a PID's given_name and
// age_over_18; Ana's wallet (the mobile API) answers cross-device, from
// the QR code, and then same-device, from the link. The wallet sees
// Cedula's verifier as verified, the purpose and the agency; her approval
// is a consent of the purpose; the agency's result carries only the two
// claims, the issuer, the status and the consent record; the log holds
// the ledger's decision and the presentation. A request asking beyond its
// purpose, under another agency's purpose or for another format is
// refused; a cancelled request cannot be fetched.
func TestVerifierWithOurWallet(t *testing.T) {
	t.Run("sqlite+local", func(t *testing.T) { verifierWithOurWallet(t, newIssuerEnv(t)) })
	t.Run("postgres+vault", func(t *testing.T) { verifierWithOurWallet(t, newIssuerEnvWith(t, postgresVault(t))) })
}

func verifierWithOurWallet(t *testing.T, e *env) {
	ctx := context.Background()
	e.agency(demo.MachineID, scopes.Issuance, scopes.Verification)
	agency := e.token(demo.MachineID, scopes.Verification)
	ana, api := e.walletCitizen("Ana")
	e.acceptPID(api, ana, "vw-1", nil)

	for i, sameDevice := range []bool{false, true} {
		st, req, out := e.verification(http.MethodPost, "/verification/requests", agency,
			fmt.Sprintf(`{"purpose":%q,"dcql_query":`+identityQuery+`}`, demo.IdentityCheckPurposeID, e.url))
		if st != http.StatusCreated || req.Status != "pending" || req.Link == "" {
			t.Fatalf("create: %d %v", st, out)
		}
		link := req.Link
		if !sameDevice {
			code, png, hdr := e.get(strings.TrimPrefix(req.QRPNG, e.url), agency)
			if code != http.StatusOK || hdr.Get("Content-Type") != "image/png" {
				t.Fatalf("QR code: %d %s", code, png)
			}
			if link = scanQR(t, png); link != req.Link {
				t.Fatalf("the QR code says %q, want the link %q", link, req.Link)
			}
			if code, svg, _ := e.get(strings.TrimPrefix(req.QRSVG, e.url), agency); code != http.StatusOK || !bytes.Contains(svg, []byte("<svg")) {
				t.Errorf("QR code, SVG: %d", code)
			}
		}
		en := mobileclient.AcceptLanguage("en")
		res, err := api.ResolvePresentationWithResponse(ctx, &mobileclient.ResolvePresentationParams{AcceptLanguage: &en},
			mobileclient.ResolvePresentationRequest{Request: link})
		if err != nil || res.JSON200 == nil {
			t.Fatalf("resolve: %v %d %s", err, res.StatusCode(), res.Body)
		}
		pr := res.JSON200
		if !pr.Verifier.Verified || pr.Verifier.ClientId != e.s.Verifier.ClientID() || !pr.Answerable {
			t.Errorf("the wallet sees the verifier %+v (answerable %v)", pr.Verifier, pr.Answerable)
		}
		if p := pr.Purpose; p == nil || p.Id != demo.IdentityCheckPurposeID || !p.Registered || p.Controller == nil || *p.Controller != demo.MachineID {
			t.Errorf("the wallet sees the purpose %+v", pr.Purpose)
		}
		if st, got, _ := e.verification(http.MethodGet, "/verification/requests/"+req.ID, agency, ""); st != http.StatusOK || got.Status != "fetched" {
			t.Errorf("after the wallet fetched it: %d %+v", st, got)
		}
		cred := pr.Queries[0].Matches[0].CredentialId
		sent, err := api.ApprovePresentationWithResponse(ctx, pr.Id, &mobileclient.ApprovePresentationParams{IdempotencyKey: fmt.Sprintf("vw-ap-%d", i)},
			mobileclient.PresentationApproval{Credentials: map[string][]string{"pid": {cred}}})
		if err != nil || sent.JSON201 == nil || sent.JSON201.Presentation.Outcome != "sent" {
			t.Fatalf("approve: %v %d %s", err, sent.StatusCode(), sent.Body)
		}

		st, got, out := e.verification(http.MethodGet, "/verification/requests/"+req.ID, agency, "")
		if st != http.StatusOK || got.Status != "verified" || got.Result == nil || len(got.Result.Credentials) != 1 {
			t.Fatalf("result: %d %v", st, out)
		}
		c := got.Result.Credentials[0]
		want := map[string]any{"given_name": "Ana", "age_over_18": true}
		if !reflect.DeepEqual(c.Claims, want) || c.QueryID != "pid" || c.Issuer != e.url || c.VCT != e.url+"/vct/pid/1" ||
			c.Status != "valid" || c.StatusCheckedAt == nil {
			t.Errorf("the agency got %+v, want only %v from our issuer, status valid", c, want)
		}
		if got.Link != "" || got.QRPNG != "" {
			t.Errorf("an answered request still offers its link: %+v", got)
		}
		rec, err := e.s.Consent.Record(ctx, ana, demo.IdentityCheckPurposeID)
		if err != nil || got.Result.LegalBasis != "consent" || got.Result.ConsentRecord == "" || got.Result.ConsentRecord != rec.Ref().String() {
			t.Errorf("the result's consent record %q (basis %q), want Ana's record %q (%v)", got.Result.ConsentRecord, got.Result.LegalBasis, rec.Ref(), err)
		}
	}

	// The log: for each presentation, the ledger's decision and the
	// presentation, both about Ana.
	if err := e.s.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs, _, err := e.s.Audit.EntriesAbout(ctx, e.s.AuditSubject(ana), 0, audit.MaxEntries)
	if err != nil {
		t.Fatal(err)
	}
	var presented, decided int
	for _, r := range recs {
		en, _ := r.Entry()
		switch {
		case en.Action == verifier.ActionPresent && en.Outcome == audit.Allowed && en.LegalBasis == "consent" && en.ConsentRecord != "":
			presented++
		case en.Action == consent.ActionDecide && en.Actor.ID == demo.MachineID && en.Outcome == audit.Allowed && en.Purpose == "dpv:IdentityVerification":
			decided++
		}
	}
	if presented != 2 || decided != 2 {
		t.Errorf("the log about Ana: %d presentations, %d decisions of the agency, want 2 and 2", presented, decided)
	}

	// Refused at creation: beyond the purpose, another agency's purpose,
	// another format; each a 403 or 400 problem.
	for _, tc := range []struct {
		name, body string
		status     int
		slug       string
	}{
		{"a claim the purpose does not register", fmt.Sprintf(`{"purpose":%q,"dcql_query":{"credentials":[{"id":"pid","format":"dc+sd-jwt","meta":{"vct_values":["%s/vct/pid/1"]},"claims":[{"path":["personal_administrative_number"]}]}]}}`, demo.IdentityCheckPurposeID, e.url), 403, "beyond-purpose"},
		{"a type the purpose does not register", fmt.Sprintf(`{"purpose":%q,"dcql_query":{"credentials":[{"id":"r","format":"dc+sd-jwt","meta":{"vct_values":["%s/vct/residence/1"]},"claims":[{"path":["address"]}]}]}}`, demo.IdentityCheckPurposeID, e.url), 403, "beyond-purpose"},
		{"another agency's purpose", fmt.Sprintf(`{"purpose":%q,"dcql_query":`+identityQuery+`}`, demo.PurposeID, e.url), 403, "not-your-purpose"},
		{"an unknown purpose", fmt.Sprintf(`{"purpose":"nothing-like-it","dcql_query":`+identityQuery+`}`, e.url), 403, "not-your-purpose"},
		{"another format", fmt.Sprintf(`{"purpose":%q,"dcql_query":{"credentials":[{"id":"m","format":"mso_mdoc","meta":{"doctype_value":"x"}}]}}`, demo.IdentityCheckPurposeID), 400, "invalid-presentation-request"},
		{"a query that does not parse", fmt.Sprintf(`{"purpose":%q,"dcql_query":{"credentials":[]}}`, demo.IdentityCheckPurposeID), 400, "invalid-presentation-request"},
		{"an unknown response mode", fmt.Sprintf(`{"purpose":%q,"response_mode":"fragment","dcql_query":`+identityQuery+`}`, demo.IdentityCheckPurposeID, e.url), 400, "invalid-presentation-request"},
	} {
		res, out := e.do(http.MethodPost, "/verification/requests", agency, tc.body)
		if res.StatusCode != tc.status || !strings.HasSuffix(fmt.Sprint(out["type"]), tc.slug) {
			t.Errorf("%s: %d %v, want %d %s", tc.name, res.StatusCode, out, tc.status, tc.slug)
		}
	}
	if res, _ := e.do(http.MethodPost, "/verification/requests", e.token(demo.MachineID, scopes.Issuance),
		fmt.Sprintf(`{"purpose":%q,"dcql_query":`+identityQuery+`}`, demo.IdentityCheckPurposeID, e.url)); res.StatusCode != http.StatusForbidden {
		t.Errorf("without the verification scope: %d, want 403", res.StatusCode)
	}

	// Cancelled: the wallet cannot fetch it, the agency sees it cancelled,
	// cancelling again conflicts.
	_, req, _ := e.verification(http.MethodPost, "/verification/requests", agency,
		fmt.Sprintf(`{"purpose":%q,"dcql_query":`+identityQuery+`}`, demo.IdentityCheckPurposeID, e.url))
	if res, _ := e.do(http.MethodDelete, "/verification/requests/"+req.ID, agency, ""); res.StatusCode != http.StatusNoContent {
		t.Fatalf("cancel: %d", res.StatusCode)
	}
	if res, _ := e.do(http.MethodDelete, "/verification/requests/"+req.ID, agency, ""); res.StatusCode != http.StatusConflict {
		t.Errorf("cancel again: %d, want 409", res.StatusCode)
	}
	if code, body, _ := e.get(strings.TrimPrefix(req.RequestURI, e.url), ""); code != http.StatusNotFound || !bytes.Contains(body, []byte("invalid_request_uri")) {
		t.Errorf("fetching a cancelled request: %d %s", code, body)
	}
	if _, got, _ := e.verification(http.MethodGet, "/verification/requests/"+req.ID, agency, ""); got.Status != "cancelled" {
		t.Errorf("the agency sees %q, want cancelled", got.Status)
	}
	// Another agency sees nothing of it.
	e.agency("other-agency", scopes.Verification)
	if res, _ := e.do(http.MethodGet, "/verification/requests/"+req.ID, e.token("other-agency", scopes.Verification), ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("another agency reading the request: %d, want 404", res.StatusCode)
	}
}
