package issuertest

import (
	"testing"

	"github.com/cedula/cedula/issuer"
)

func testRecoveryCodes(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addCitizens(t, s, "ana")
	left := func(want int) {
		t.Helper()
		n, err := s.RecoveryCodesLeft(ctx, "ana")
		if err != nil || n != want {
			t.Errorf("RecoveryCodesLeft: got %d, %v, want %d, nil", n, err, want)
		}
	}
	use := func(code string, want error) {
		t.Helper()
		who, err := s.UseRecoveryCode(ctx, blob(code, 10))
		if wantErr(t, "UseRecoveryCode "+code, err, want) && err == nil && who != "ana" {
			t.Errorf("UseRecoveryCode %s: got citizen %q, want %q", code, who, "ana")
		}
	}
	left(0)
	must(t, s.ReplaceRecoveryCodes(ctx, "ana", [][]byte{blob("old1", 10), blob("old2", 10), blob("old3", 10)}), "ReplaceRecoveryCodes")
	left(3)
	use("old2", nil)
	left(2)
	use("old2", issuer.ErrNotFound)
	left(2)
	must(t, s.ReplaceRecoveryCodes(ctx, "ana", [][]byte{blob("new1", 10), blob("new2", 10)}), "ReplaceRecoveryCodes")
	left(2)
	use("old1", issuer.ErrNotFound)
	use("new1", nil)
	left(1)
	must(t, s.ReplaceRecoveryCodes(ctx, "ana", nil), "ReplaceRecoveryCodes with none")
	left(0)
	use("new2", issuer.ErrNotFound)
}

func testRecoveryCodesPerCitizen(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addCitizens(t, s, "ana", "beto")
	must(t, s.ReplaceRecoveryCodes(ctx, "ana", [][]byte{blob("a1", 10), blob("a2", 10)}), "ReplaceRecoveryCodes")
	must(t, s.ReplaceRecoveryCodes(ctx, "beto", [][]byte{blob("b1", 10)}), "ReplaceRecoveryCodes")
	must(t, s.ReplaceRecoveryCodes(ctx, "ana", [][]byte{blob("a3", 10)}), "ReplaceRecoveryCodes")
	for who, want := range map[string]int{"ana": 1, "beto": 1} {
		if n, err := s.RecoveryCodesLeft(ctx, who); err != nil || n != want {
			t.Errorf("RecoveryCodesLeft(%s): got %d, %v, want %d, nil", who, n, err, want)
		}
	}
	for code, want := range map[string]string{"b1": "beto", "a3": "ana"} {
		if who, err := s.UseRecoveryCode(ctx, blob(code, 10)); err != nil || who != want {
			t.Errorf("UseRecoveryCode %s: got %q, %v, want %q, nil", code, who, err, want)
		}
	}
}

func testUseRecoveryCodeConcurrent(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addCitizens(t, s, "ana")
	must(t, s.ReplaceRecoveryCodes(ctx, "ana", [][]byte{blob("c1", 10), blob("c2", 10)}), "ReplaceRecoveryCodes")
	who := make([]string, 20)
	errs := together(len(who), func(i int) error {
		var err error
		who[i], err = s.UseRecoveryCode(ctx, blob("c1", 10))
		return err
	})
	if i := checkOnce(t, "UseRecoveryCode", errs, issuer.ErrNotFound); i >= 0 && who[i] != "ana" {
		t.Errorf("UseRecoveryCode: got citizen %q, want %q", who[i], "ana")
	}
	if n, err := s.RecoveryCodesLeft(ctx, "ana"); err != nil || n != 1 {
		t.Errorf("RecoveryCodesLeft: got %d, %v, want 1, nil", n, err)
	}
}
