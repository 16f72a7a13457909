package app_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/demo"
	"github.com/cedula/cedula/mobile-api/mobileclient"
)

// passkey registers a passkey for the citizen, as a ceremony would, and
// returns its id as the mobile API writes it.
func (e *env) passkey(citizenID, name string, created time.Time) string {
	e.t.Helper()
	id := []byte(citizenID + "/" + name)
	if err := e.s.Store.AddPasskey(context.Background(), issuer.Passkey{ID: id, CitizenID: citizenID, Name: name,
		PublicKey: []byte{1}, Created: created}); err != nil {
		e.t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(id)
}

// TestMobileConsentsActivityPasskeysDevices, over HTTP with the generated
// client (every exchange validated against the document): the citizen
// gives a consent through the app (idempotent), lists and reads it with
// its history, downloads its signed receipt, withdraws it in one step,
// sees both changes in her activity with inclusion proofs; renames and
// removes passkeys but not the last; registers, lists and removes a
// device.
func TestMobileConsentsActivityPasskeysDevices(t *testing.T) {
	e := newIssuerEnv(t)
	ctx := context.Background()
	ana := e.citizen("Ana")
	e.loggedInAt(app.WalletClientID, ana)
	k, tok := e.walletLogin(e.session(ana))
	api := e.mobileClient(k, tok)
	en := mobileclient.AcceptLanguage("en")

	// Consents.
	give, err := api.GiveConsentWithResponse(ctx, demo.PurposeID, &mobileclient.GiveConsentParams{IdempotencyKey: "give-1", AcceptLanguage: &en})
	if err != nil || give.JSON201 == nil || give.JSON201.State != "given" || give.JSON201.Method != "mobile" || !give.JSON201.Withdrawable {
		t.Fatalf("give: %v %d %s", err, give.StatusCode(), give.Body)
	}
	if again, _ := api.GiveConsentWithResponse(ctx, demo.PurposeID, &mobileclient.GiveConsentParams{IdempotencyKey: "give-1"}); again.StatusCode() != http.StatusCreated || string(again.Body) != string(give.Body) {
		t.Errorf("the same Idempotency-Key again: %d %s, want the first answer", again.StatusCode(), again.Body)
	}
	if other, _ := api.GiveConsentWithResponse(ctx, demo.CredentialPurposeID, &mobileclient.GiveConsentParams{IdempotencyKey: "give-1"}); other.StatusCode() != http.StatusUnprocessableEntity {
		t.Errorf("the same key for another purpose: %d, want 422", other.StatusCode())
	}
	if nb, _ := api.GiveConsentWithResponse(ctx, demo.CredentialPurposeID, &mobileclient.GiveConsentParams{IdempotencyKey: "give-2"}); nb.StatusCode() != http.StatusConflict {
		t.Errorf("giving consent to a purpose on public task: %d %s, want 409", nb.StatusCode(), nb.Body)
	}
	if unk, _ := api.GiveConsentWithResponse(ctx, "no-such-purpose", &mobileclient.GiveConsentParams{IdempotencyKey: "give-3"}); unk.StatusCode() != http.StatusNotFound {
		t.Errorf("an unknown purpose: %d, want 404", unk.StatusCode())
	}
	list, err := api.ListConsentsWithResponse(ctx, &mobileclient.ListConsentsParams{AcceptLanguage: &en})
	if err != nil || list.JSON200 == nil || len(list.JSON200.Items) != 1 || list.JSON200.Items[0].Purpose != demo.PurposeID ||
		list.JSON200.Items[0].Name == "" || list.JSON200.Items[0].ControllerName == "" || list.JSON200.Items[0].LegalBasis != "consent" {
		t.Fatalf("list: %v %s", err, list.Body)
	}
	etag := list.HTTPResponse.Header.Get("ETag")
	if nm, _ := api.ListConsentsWithResponse(ctx, &mobileclient.ListConsentsParams{AcceptLanguage: &en, IfNoneMatch: &etag}); nm.StatusCode() != http.StatusNotModified {
		t.Errorf("If-None-Match with the list's ETag: %d, want 304", nm.StatusCode())
	}
	rc, err := api.GetConsentReceiptWithResponse(ctx, demo.PurposeID, nil)
	if err != nil || rc.JSON200 == nil || strings.Count(rc.JSON200.Receipt, ".") != 2 || rc.JSON200.Claims["purpose_id"] != demo.PurposeID ||
		rc.JSON200.Claims["collectionMethod"] != "mobile" {
		t.Fatalf("receipt: %v %s", err, rc.Body)
	}
	wd, err := api.WithdrawConsentWithResponse(ctx, demo.PurposeID, nil)
	if err != nil || wd.JSON200 == nil || wd.JSON200.State != "withdrawn" || wd.JSON200.Withdrawable {
		t.Fatalf("withdraw: %v %d %s", err, wd.StatusCode(), wd.Body)
	}
	if twice, _ := api.WithdrawConsentWithResponse(ctx, demo.PurposeID, nil); twice.StatusCode() != http.StatusConflict {
		t.Errorf("withdrawing twice: %d, want 409", twice.StatusCode())
	}
	one, err := api.GetConsentWithResponse(ctx, demo.PurposeID, nil)
	if err != nil || one.JSON200 == nil || len(one.JSON200.History) != 2 || one.JSON200.History[0].Type != "given" ||
		one.JSON200.History[1].Type != "withdrawn" || one.JSON200.History[1].Actor != "citizen" {
		t.Fatalf("one consent with its history: %v %s", err, one.Body)
	}
	if none, _ := api.GetConsentWithResponse(ctx, demo.CredentialPurposeID, nil); none.StatusCode() != http.StatusNotFound {
		t.Errorf("a purpose without a record: %d, want 404", none.StatusCode())
	}

	// Activity: both changes, proven against the checkpoint.
	if err := e.s.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Checkpointer.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	one1 := 1
	act, err := api.ListActivityWithResponse(ctx, &mobileclient.ListActivityParams{Limit: &one1, AcceptLanguage: &en})
	if err != nil || act.JSON200 == nil || len(act.JSON200.Items) != 1 || act.JSON200.NextCursor == nil || act.JSON200.Checkpoint == "" {
		t.Fatalf("activity: %v %s", err, act.Body)
	}
	var seen []string
	named := 0 // entries of the demo purpose's consent record
	for cursor := (*string)(nil); ; {
		p, err := api.ListActivityWithResponse(ctx, &mobileclient.ListActivityParams{Limit: &one1, Cursor: cursor, AcceptLanguage: &en})
		if err != nil || p.JSON200 == nil {
			t.Fatalf("activity page: %v %s", err, p.Body)
		}
		for _, it := range p.JSON200.Items {
			seen = append(seen, it.Action)
			if it.ConsentRecord != nil && strings.HasPrefix(*it.ConsentRecord, demo.PurposeID+"@") {
				named++
				if it.PurposeName == nil || *it.PurposeName == "" {
					t.Errorf("entry %d (%s, consent record %s): no purpose name", it.Index, it.Action, *it.ConsentRecord)
				}
			}
			if it.Actor.Kind == "citizen" && (it.Actor.Self == nil || !*it.Actor.Self || it.Actor.Id != nil) {
				t.Errorf("entry %d: the citizen's own act: %+v, want self without an id", it.Index, it.Actor)
			}
			if it.Index > 0 && len(it.Proof) == 0 {
				t.Errorf("entry %d: no inclusion proof", it.Index)
			}
		}
		if cursor = p.JSON200.NextCursor; cursor == nil {
			break
		}
	}
	if !slices.Contains(seen, "consent.give") || !slices.Contains(seen, "consent.withdraw") {
		t.Errorf("activity actions %v, want the give and the withdrawal", seen)
	}
	if named < 2 {
		t.Errorf("%d entries name the demo purpose's consent record, want the give and the withdrawal at least", named)
	}

	// Passkeys.
	now := time.Now()
	p1, p2 := e.passkey(ana, "Phone", now.Add(-time.Hour)), e.passkey(ana, "Laptop", now)
	pks, err := api.ListPasskeysWithResponse(ctx, nil)
	if err != nil || pks.JSON200 == nil || len(pks.JSON200.Items) != 2 || pks.JSON200.Items[0].Id != p2 {
		t.Fatalf("passkeys: %v %s", err, pks.Body)
	}
	rn, err := api.RenamePasskeyWithResponse(ctx, p1, mobileclient.PasskeyRename{Name: " Mi  teléfono "})
	if err != nil || rn.JSON200 == nil || rn.JSON200.Name != "Mi teléfono" {
		t.Errorf("rename: %v %s", err, rn.Body)
	}
	if rm, _ := api.RemovePasskeyWithResponse(ctx, p1); rm.StatusCode() != http.StatusNoContent {
		t.Errorf("remove: %d %s", rm.StatusCode(), rm.Body)
	}
	if last, _ := api.RemovePasskeyWithResponse(ctx, p2); last.StatusCode() != http.StatusConflict || !strings.Contains(string(last.Body), "last-passkey") {
		t.Errorf("removing the last passkey: %d %s, want 409 last-passkey", last.StatusCode(), last.Body)
	}

	// Devices.
	dev, err := api.RegisterDeviceWithResponse(ctx, &mobileclient.RegisterDeviceParams{IdempotencyKey: "dev-1"},
		mobileclient.DeviceRegistration{Platform: "ios", PushToken: "apns-token-of-ana", Name: "Ana's iPhone"})
	if err != nil || dev.JSON201 == nil || dev.JSON201.Name != "Ana's iPhone" {
		t.Fatalf("register a device: %v %d %s", err, dev.StatusCode(), dev.Body)
	}
	ds, err := api.ListDevicesWithResponse(ctx, nil)
	if err != nil || ds.JSON200 == nil || len(ds.JSON200.Items) != 1 || ds.JSON200.Items[0].Id != dev.JSON201.Id || strings.Contains(string(ds.Body), "apns-token") {
		t.Fatalf("devices: %v %s", err, ds.Body)
	}
	if rm, _ := api.RemoveDeviceWithResponse(ctx, dev.JSON201.Id); rm.StatusCode() != http.StatusNoContent {
		t.Errorf("remove the device: %d", rm.StatusCode())
	}
}
