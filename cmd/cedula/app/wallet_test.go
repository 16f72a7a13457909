package app_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/issuer/demo"
	cwallet "github.com/cedula/cedula/wallet"
)

// TestWalletReceivesFromOurIssuer: the citizen's wallet previews and
// accepts an offer of our issuer by reference with its tx_code (DPoP, a
// batch of three copies with sealed keys), holds it decoded with the
// issuer's display texts, reads its status from the issuer's list as the
// agency changes it, keeps it sealed at rest, hides it from another
// citizen, and on deletion tells the issuer; the citizen's erasure
// deletes the wallet's rows, and a copy of one no longer opens.
func TestWalletReceivesFromOurIssuer(t *testing.T) {
	e := newIssuerEnv(t)
	ctx := context.Background()
	ana, beto := e.citizen("Ana"), e.citizen("Beto")
	sub := e.loggedInAt(demo.MachineID, ana)
	agencyToken := e.token(demo.MachineID, scopes.Issuance)
	status, offer := e.offer(agencyToken, sub, "pid")
	if status != http.StatusCreated {
		t.Fatalf("offer: %d %v", status, offer)
	}
	uri, txCode := offer["credential_offer_uri"].(string), offer["tx_code"].(string)

	p, err := e.s.Wallet.PreviewOffer(ctx, ana, uri, "en")
	if err != nil {
		t.Fatal(err)
	}
	if p.Issuer != e.url || len(p.Credentials) != 1 || p.Credentials[0].ConfigurationID != "pid" || p.TxCode == nil ||
		p.TxCode.Length != 6 || p.TxCode.InputMode != "numeric" || !p.PreAuthorized || p.Credentials[0].Display.Name == "" {
		t.Fatalf("preview: %+v", p)
	}
	labels := map[string]bool{}
	for _, c := range p.Credentials[0].Claims {
		labels[c.Label] = true
	}
	if !labels["Given name"] && !labels["Given names"] {
		t.Errorf("preview claims carry no English label for given_name: %+v", p.Credentials[0].Claims)
	}

	// A wrong transaction code is the issuer's refusal, a malformed one
	// the wallet's own; neither stores anything.
	if _, err := e.s.Wallet.AcceptOffer(ctx, ana, cwallet.Accept{Offer: uri, TxCode: "12345"}, "en"); !errors.Is(err, cwallet.ErrOffer) {
		t.Errorf("a 5-digit tx_code: %v, want ErrOffer", err)
	}
	wrong := "000000"
	if txCode == wrong {
		wrong = "111111"
	}
	var werr *cwallet.Error
	if _, err := e.s.Wallet.AcceptOffer(ctx, ana, cwallet.Accept{Offer: uri, TxCode: wrong}, "en"); !errors.As(err, &werr) ||
		werr.Kind != cwallet.ErrRefused || werr.Code != "invalid_grant" {
		t.Errorf("a wrong tx_code: %v, want the issuer's invalid_grant", err)
	}

	rcv, err := e.s.Wallet.AcceptOffer(ctx, ana, cwallet.Accept{Offer: uri, TxCode: txCode}, "es")
	if err != nil {
		t.Fatal(err)
	}
	got := rcv.Credentials
	if len(got) != 1 {
		t.Fatalf("accepted %d credentials, want 1", len(got))
	}
	c := got[0]
	if c.Claims["given_name"] != "Ana" || c.Status != cwallet.StatusValid || c.KeyMode != cwallet.KeySealed || c.Issuer != e.url ||
		c.Format != "dc+sd-jwt" || !strings.HasPrefix(c.VCT, e.url+"/vct/pid") || c.Display.Name == "" || c.ExpiresAt.IsZero() {
		t.Fatalf("held credential: %+v", c)
	}
	if _, ok := c.Claims["cnf"]; ok {
		t.Error("the citizen's claims carry cnf")
	}
	// Three copies, each with its own key: the issuer counts three.
	res, rec := e.do(http.MethodGet, "/issuance/credentials/"+offer["credential_id"].(string), agencyToken, "")
	if res.StatusCode != http.StatusOK || rec["count"] != float64(3) {
		t.Errorf("issuer's record: %d %v, want 3 credentials issued", res.StatusCode, rec)
	}
	list, err := e.s.Wallet.Credentials(ctx, ana, "en")
	if err != nil || len(list) != 1 || list[0].ID != c.ID {
		t.Fatalf("Ana's wallet: %+v %v", list, err)
	}

	// The agency suspends it: a fresh read of the credential says so.
	credID := offer["credential_id"].(string)
	if res, out := e.do(http.MethodPut, "/issuance/credentials/"+credID+"/status", agencyToken, `{"status":"suspended"}`); res.StatusCode != http.StatusOK {
		t.Fatalf("suspend: %d %v", res.StatusCode, out)
	}
	if c2, err := e.s.Wallet.Credential(ctx, ana, c.ID, "en"); err != nil || c2.Status != cwallet.StatusSuspended || c2.StatusCheckedAt.IsZero() {
		t.Errorf("after suspension: %v %v, want suspended", c2.Status, err)
	}

	// Beto finds nothing of Ana's.
	if _, err := e.s.Wallet.Credential(ctx, beto, c.ID, "en"); !errors.Is(err, cwallet.ErrNotFound) {
		t.Errorf("Beto reading Ana's credential: %v, want ErrNotFound", err)
	}
	if err := e.s.Wallet.DeleteCredential(ctx, beto, c.ID); !errors.Is(err, cwallet.ErrNotFound) {
		t.Errorf("Beto deleting Ana's credential: %v, want ErrNotFound", err)
	}

	// At rest: no claim value, no credential, no private key in clear.
	var sealed, summary []byte
	if err := e.s.DB.QueryRowContext(ctx, `SELECT c.sealed, s.summary FROM wallet_credentials c JOIN wallet_summaries s ON s.id = c.id WHERE c.id = $1`, c.ID).Scan(&sealed, &summary); err != nil {
		t.Fatal(err)
	}
	if len(summary) == 0 {
		t.Error("the row has no summary")
	}
	for _, clear := range []string{"Ana", "given_name", `"d":`, "eyJ", "dc+sd-jwt", e.url} {
		if bytes.Contains(sealed, []byte(clear)) || bytes.Contains(summary, []byte(clear)) {
			t.Errorf("the stored row holds %q in clear", clear)
		}
	}

	// Deleting it tells the issuer, and both sides audit it.
	if err := e.s.Wallet.DeleteCredential(ctx, ana, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Wallet.Credential(ctx, ana, c.ID, "en"); !errors.Is(err, cwallet.ErrNotFound) {
		t.Errorf("after deletion: %v, want ErrNotFound", err)
	}
	if err := e.s.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs, _, err := e.s.Audit.EntriesAbout(ctx, e.s.AuditSubject(ana), 0, audit.MaxEntries)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range recs {
		en, _ := r.Entry()
		seen[en.Action]++
	}
	for _, a := range []string{cwallet.ActionReceive, cwallet.ActionDelete, "credential.notify.accepted", "credential.notify.deleted"} {
		if seen[a] != 1 {
			t.Errorf("%d %s entries about Ana, want 1 (all: %v)", seen[a], a, seen)
		}
	}

	// A second credential, then Ana's erasure: its row is deleted, and a
	// copy of it kept from before no longer opens.
	_, offer2 := e.offer(agencyToken, sub, "residence")
	second, err := e.s.Wallet.AcceptOffer(ctx, ana, cwallet.Accept{Offer: offer2["credential_offer_uri"].(string), TxCode: offer2["tx_code"].(string)}, "en")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.s.DB.QueryRowContext(ctx, `SELECT sealed FROM wallet_credentials WHERE id = $1`, second.Credentials[0].ID).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	// Her inbox told her of both, sealed too; what is watched of them
	// holds no claim.
	var msgID string
	var msg []byte
	if err := e.s.DB.QueryRowContext(ctx, `SELECT id, sealed FROM inbox_messages WHERE citizen_id = $1 ORDER BY seq DESC LIMIT 1`, ana).Scan(&msgID, &msg); err != nil {
		t.Fatal(err)
	}
	for _, clear := range []string{"credential", "Residence", "residence", "Ana"} {
		if bytes.Contains(msg, []byte(clear)) {
			t.Errorf("the stored message holds %q in clear", clear)
		}
	}
	var watched int
	if err := e.s.DB.QueryRowContext(ctx, `SELECT count(*) FROM wallet_watch WHERE citizen_id = $1`, ana).Scan(&watched); err != nil || watched != 1 {
		t.Errorf("watched credentials of Ana: %d %v, want 1 (the first one was deleted)", watched, err)
	}
	e.agency("registrar", app.AdminScope)
	admin := e.token("registrar", app.AdminScope)
	if res, out := e.do("POST", "/admin/erasures", admin, `{"citizen_id":"`+ana+`"}`); res.StatusCode != http.StatusCreated {
		t.Fatalf("erase: %d %v", res.StatusCode, out)
	}
	if list, err := e.s.Wallet.Credentials(ctx, ana, "en"); err != nil || len(list) != 0 {
		t.Errorf("Ana's wallet after erasure: %d credentials, %v; want none", len(list), err)
	}
	if _, err := e.s.Shredder.OpenData(ctx, e.s.AuditSubject(ana), "wallet/credential/"+second.Credentials[0].ID, sealed); !errors.Is(err, audit.ErrErased) {
		t.Errorf("Ana's credential row, kept from before the erasure: %v, want ErrErased", err)
	}
	if _, err := e.s.Shredder.OpenData(ctx, e.s.AuditSubject(ana), "inbox/message/"+msgID, msg); !errors.Is(err, audit.ErrErased) {
		t.Errorf("Ana's inbox row, kept from before the erasure: %v, want ErrErased", err)
	}
	for _, table := range []string{"inbox_messages", "wallet_watch"} {
		var n int
		if err := e.s.DB.QueryRowContext(ctx, `SELECT count(*) FROM `+table+` WHERE citizen_id = $1`, ana).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s rows of Ana after erasure: %d %v, want none", table, n, err)
		}
	}
}
