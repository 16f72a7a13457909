package issuertest

import (
	"testing"

	"github.com/cedula/cedula/issuer"
)

// codeTokens are the tokens a redemption of request reqID issues; with
// refresh, a refresh token goes with the access token.
func codeTokens(reqID, name string, refresh bool) (issuer.AccessToken, *issuer.RefreshToken) {
	rt := newRefreshToken(name+"-rt", "ignored", "ana", "tributaria", baseTime())
	at := newAccessToken(name+"-at", rt)
	if !refresh {
		at.RefreshTokenID = ""
		return at, nil
	}
	return at, &rt
}

func testRedeemCode(t *testing.T, newStore NewStore) {
	for _, refresh := range []bool{false, true} {
		t.Run(map[bool]string{false: "access token only", true: "with a refresh token"}[refresh], func(t *testing.T) {
			s, ctx := newStore(t), t.Context()
			addCitizens(t, s, "ana")
			addClients(t, s, "tributaria")
			completed(t, s, "ar-1")
			at, rt := codeTokens("ar-1", "c1", refresh)
			must(t, s.RedeemCode(ctx, "ar-1", at, rt), "RedeemCode")
			got, err := s.AccessToken(ctx, at.ID)
			must(t, err, "AccessToken")
			at.FamilyID = "ar-1"
			checkEqual(t, "AccessToken after RedeemCode", got, at)
			if rt != nil {
				gotRT, err := s.RefreshToken(ctx, rt.ID)
				must(t, err, "RefreshToken")
				rt.FamilyID = "ar-1"
				checkEqual(t, "RefreshToken after RedeemCode", gotRT, *rt)
			}
			r, err := s.AuthRequest(ctx, "ar-1")
			must(t, err, "AuthRequest")
			if !r.Redeemed {
				t.Errorf("AuthRequest after RedeemCode: got Redeemed false, want true")
			}
		})
	}
}

// testRedeemCodeTwice: RFC 6749 §4.1.2 — the second redemption is refused
// and everything the first issued, rotated refresh tokens included, is
// revoked; other grants are left alone.
func testRedeemCodeTwice(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addCitizens(t, s, "ana")
	addClients(t, s, "tributaria")
	completed(t, s, "ar-1")
	completed(t, s, "ar-2")
	at, rt := codeTokens("ar-1", "c1", true)
	must(t, s.RedeemCode(ctx, "ar-1", at, rt), "RedeemCode")
	rt.FamilyID = "ar-1"
	_, _, err := rotate(s, ctx, *rt, "c1b")
	must(t, err, "RotateRefreshToken")
	other, _ := codeTokens("ar-2", "c2", false)
	must(t, s.RedeemCode(ctx, "ar-2", other, nil), "RedeemCode of another request")
	again, againRT := codeTokens("ar-1", "c1-again", true)
	wantErr(t, "RedeemCode again", s.RedeemCode(ctx, "ar-1", again, againRT), issuer.ErrReused)
	checkRevoked(t, s, "after the second redemption", map[string]bool{
		"c1-at": true, "c1-rt": true, "c1b-at": true, "c1b-rt": true, "c2-at": false,
	})
	checkUnusable(t, s, "the second redemption's tokens", "c1-again-at", "c1-again-rt")
}

func testRedeemCodeConcurrent(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addCitizens(t, s, "ana")
	addClients(t, s, "tributaria")
	completed(t, s, "ar-1")
	errs := together(8, func(i int) error {
		at, _ := codeTokens("ar-1", "try"+string(rune('a'+i)), false)
		return s.RedeemCode(ctx, "ar-1", at, nil)
	})
	checkOnce(t, "RedeemCode of one code", errs, issuer.ErrReused)
}
