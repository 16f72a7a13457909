package wallet_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/testutil"
	"github.com/cedula/cedula/wallet"
)

// TestDeferred: an issuance the issuer defers is kept, not asked again
// before its interval; the deferred endpoint's 202 (with a new interval)
// and issuance_pending keep it waiting, then the credentials are checked,
// stored and notified, and the transaction is gone. Polled by the citizen
// and by housekeeping alike.
func TestDeferred(t *testing.T) {
	f := newFakeIssuer(t, "deferred")
	w, st, clk := authWallet(t)
	ctx := t.Context()
	link := "openid-credential-offer://?credential_offer_uri=" + urlEscape(f.srv.URL+"/offer")
	got, err := w.AcceptOffer(ctx, "ana", wallet.Accept{Offer: link, TxCode: "4321"}, "en")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Credentials) != 0 || len(got.Deferred) != 1 || len(st.recs) != 0 {
		t.Fatalf("accepted: %+v, %d held; want one deferred, none held", got, len(st.recs))
	}
	d := got.Deferred[0]
	if d.ConfigurationID != "pid" || d.IssuerName != "Fake issuer" || d.Display.Name != "PID" || !d.RetryAt.Equal(clk.Now().UTC().Truncate(time.Microsecond).Add(5*time.Second)) {
		t.Errorf("deferred: %+v, want pid from the fake issuer, retry in 5 s", d)
	}
	for _, r := range st.def {
		if strings.Contains(string(r.Sealed), "the-token") == false {
			t.Error("the deferred record does not keep the access token")
		}
	}
	if list, err := w.DeferredIssuances(ctx, "ana", "en"); err != nil || len(list) != 1 || list[0].ID != d.ID {
		t.Errorf("list: %+v %v", list, err)
	}
	if list, _ := w.DeferredIssuances(ctx, "beto", "en"); len(list) != 0 {
		t.Errorf("Beto's list: %+v", list)
	}
	if _, err := w.CollectDeferred(ctx, "beto", d.ID, "en"); !errors.Is(err, wallet.ErrNotFound) {
		t.Errorf("Beto collecting Ana's: got %v, want ErrNotFound", err)
	}

	// Before the interval: the issuer is not asked.
	again, err := w.CollectDeferred(ctx, "ana", d.ID, "en")
	if err != nil || len(again.Deferred) != 1 || f.deferredCalls != 0 {
		t.Fatalf("before the interval: %+v %v, %d calls; want it waiting and no call", again, err, f.deferredCalls)
	}
	// 202 with a new interval of 30 s.
	now := clk.add(6 * time.Second)
	again, err = w.CollectDeferred(ctx, "ana", d.ID, "en")
	if err != nil || len(again.Deferred) != 1 || f.deferredCalls != 1 || !again.Deferred[0].RetryAt.Equal(now.UTC().Truncate(time.Microsecond).Add(30*time.Second)) {
		t.Fatalf("first poll: %+v %v, %d calls; want it waiting 30 s", again, err, f.deferredCalls)
	}
	if n, err := w.PollDeferred(ctx, clk.add(10*time.Second)); n != 0 || err != nil || f.deferredCalls != 1 {
		t.Errorf("housekeeping before the new interval: %d %v, %d calls", n, err, f.deferredCalls)
	}
	// issuance_pending, then the credentials.
	if n, err := w.PollDeferred(ctx, clk.add(21*time.Second)); n != 0 || err != nil || f.deferredCalls != 2 {
		t.Errorf("housekeeping, issuance_pending: %d %v, %d calls", n, err, f.deferredCalls)
	}
	if n, err := w.PollDeferred(ctx, clk.add(31*time.Second)); n != 1 || err != nil || f.deferredCalls != 3 {
		t.Fatalf("housekeeping, issued: %d %v, %d calls", n, err, f.deferredCalls)
	}
	held, _ := w.Credentials(ctx, "ana", "en")
	if len(held) != 1 || held[0].Claims["given_name"] != "Ana" || len(f.notes) != 1 || f.notes[0] != "credential_accepted" {
		t.Errorf("held %+v, notifications %v", held, f.notes)
	}
	if list, _ := w.DeferredIssuances(ctx, "ana", "en"); len(list) != 0 {
		t.Errorf("after issuance, still deferred: %+v", list)
	}
	if _, err := w.CollectDeferred(ctx, "ana", d.ID, "en"); !errors.Is(err, wallet.ErrNotFound) {
		t.Errorf("collected twice: got %v, want ErrNotFound", err)
	}
}

// TestDeferredRefusals: a denied transaction is dropped with the issuer's
// error; an expired one is not found; device-bound keys are deferred too.
func TestDeferredRefusals(t *testing.T) {
	ctx := t.Context()
	t.Run("denied", func(t *testing.T) {
		f := newFakeIssuer(t, "deferred-denied")
		w, st, clk := authWallet(t)
		got := acceptDeferred(t, w, f)
		clk.add(time.Minute)
		_, err := w.CollectDeferred(ctx, "ana", got.Deferred[0].ID, "en")
		var we *wallet.Error
		if !errors.Is(err, wallet.ErrRefused) || !errors.As(err, &we) || we.Code != "credential_request_denied" {
			t.Fatalf("got %v, want ErrRefused credential_request_denied", err)
		}
		if len(st.def) != 0 || len(st.recs) != 0 {
			t.Errorf("after a denial: %d deferred, %d held; want none", len(st.def), len(st.recs))
		}
	})
	t.Run("expired", func(t *testing.T) {
		f := newFakeIssuer(t, "deferred")
		w, _, clk := authWallet(t)
		got := acceptDeferred(t, w, f)
		clk.add(wallet.DeferredTTL)
		if _, err := w.CollectDeferred(ctx, "ana", got.Deferred[0].ID, "en"); !errors.Is(err, wallet.ErrNotFound) {
			t.Errorf("expired: got %v, want ErrNotFound", err)
		}
		if n, err := w.PollDeferred(ctx, clk.Now()); n != 0 || err != nil || f.deferredCalls != 0 {
			t.Errorf("housekeeping of an expired one: %d %v, %d calls", n, err, f.deferredCalls)
		}
	})
	t.Run("device keys, then a refreshed token", func(t *testing.T) {
		f := newFakeIssuer(t, "refresh")
		w, st, clk := authWallet(t)
		a := testutil.NewPhoneKey(t)
		auth, err := w.BeginAuthorization(ctx, "ana", wallet.Accept{Offer: "openid-credential-offer://?credential_offer_uri=" + urlEscape(f.srv.URL+"/offer"),
			KeyMode: wallet.KeyDevice}, nil)
		if !errors.Is(err, wallet.ErrOffer) {
			t.Errorf("device mode without keys: got %v, want ErrOffer", err)
		}
		auth, err = w.BeginAuthorization(ctx, "ana", wallet.Accept{Offer: "openid-credential-offer://?credential_offer_uri=" + urlEscape(f.srv.URL+"/offer"),
			KeyMode: wallet.KeyDevice}, []json.RawMessage{a.JWK()})
		if err != nil {
			t.Fatal(err)
		}
		p, err := w.FinishAuthorization(ctx, "ana", auth.ID, wallet.Callback{URL: browse(t, auth.URL)}, "en")
		if err != nil || p.Pending == nil {
			t.Fatalf("%+v %v", p, err)
		}
		got, err := w.FinishDeviceAccept(ctx, "ana", p.Pending.ID, []string{a.Sign(t, p.Pending.SigningInputs[0].Input)}, "en")
		if err != nil || len(got.Deferred) != 1 || got.Deferred[0].KeyMode != wallet.KeyDevice {
			t.Fatalf("%+v %v", got, err)
		}
		// The token (1 s) has expired by the polls: it is refreshed first.
		for range 3 {
			clk.add(time.Minute)
			if got, err = w.CollectDeferred(ctx, "ana", got.Deferred[0].ID, "en"); err != nil {
				t.Fatal(err)
			}
			if len(got.Credentials) == 1 {
				break
			}
		}
		if len(got.Credentials) != 1 || got.Credentials[0].KeyMode != wallet.KeyDevice || f.refreshed == 0 {
			t.Fatalf("device-bound deferred: %+v, %d refreshes", got, f.refreshed)
		}
		for _, r := range st.recs {
			if strings.Contains(string(r.Sealed), `"d":`) {
				t.Error("a device-bound credential's record holds a private key")
			}
		}
	})
}

// acceptDeferred accepts f's offer, which it defers.
func acceptDeferred(t *testing.T, w *wallet.Service, f *fakeIssuer) wallet.Received {
	t.Helper()
	got, err := w.AcceptOffer(t.Context(), "ana", wallet.Accept{Offer: "openid-credential-offer://?credential_offer_uri=" + urlEscape(f.srv.URL+"/offer"), TxCode: "4321"}, "en")
	if err != nil || len(got.Deferred) != 1 {
		t.Fatalf("%+v %v", got, err)
	}
	return got
}
