package issuertest

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/issuer"
)

func testPasskeyRoundTrip(t *testing.T, newStore NewStore) {
	base := baseTime()
	full := newPasskey("full", "ana", base)
	full.SignCount = 42
	full.Transports = []string{"usb", "nfc", "ble", "internal", "hybrid"}
	full.LastUsed = base.Add(time.Hour)
	maxCount := newPasskey("max", "ana", base)
	maxCount.SignCount = math.MaxUint32
	bare := issuer.Passkey{
		ID:              credID("bare"),
		CitizenID:       "ana",
		PublicKey:       blob("cose:bare", 77),
		AttestationType: "none",
		Created:         base,
	}
	empty := bare
	empty.ID, empty.AAGUID, empty.Transports = credID("empty"), []byte{}, []string{}
	notBackedUp := newPasskey("eligible", "ana", base.UTC())
	notBackedUp.BackupState, notBackedUp.AttestationType = false, "packed"
	for _, tc := range []struct {
		name string
		p    issuer.Passkey
	}{
		{"every field", full},
		{"counter at the uint32 maximum", maxCount},
		{"nil AAGUID and transports, no flags", bare},
		{"empty AAGUID and transports", empty},
		{"backup eligible, not backed up", notBackedUp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			addCitizens(t, s, "ana")
			must(t, s.AddPasskey(t.Context(), tc.p), "AddPasskey")
			got, err := s.Passkey(t.Context(), tc.p.ID)
			must(t, err, "Passkey")
			checkEqual(t, "Passkey", got, tc.p)
		})
	}
}

func testPasskeyExists(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addCitizens(t, s, "ana", "beto")
	first := newPasskey("p1", "ana", baseTime())
	must(t, s.AddPasskey(ctx, first), "AddPasskey")
	for _, owner := range []string{"ana", "beto"} {
		dup := newPasskey("p1", owner, baseTime().Add(time.Hour))
		dup.Name, dup.PublicKey = "copia", blob("cose:other", 77)
		wantErr(t, "AddPasskey of a registered credential ID for "+owner, s.AddPasskey(ctx, dup), issuer.ErrExists)
	}
	got, err := s.Passkey(ctx, first.ID)
	must(t, err, "Passkey")
	checkEqual(t, "Passkey after a refused duplicate", got, first)
}

func testPasskeysOf(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addCitizens(t, s, "ana", "beto", "carla")
	base := baseTime()
	want := map[string]issuer.Passkey{}
	// Added out of order: PasskeysOf lists them oldest first.
	for _, p := range []issuer.Passkey{
		newPasskey("c", "ana", base.Add(2*time.Minute)),
		newPasskey("a", "ana", base),
		newPasskey("d", "beto", base.Add(-time.Minute)),
		newPasskey("b", "ana", base.Add(time.Minute)),
	} {
		want[string(p.ID)] = p
		must(t, s.AddPasskey(ctx, p), "AddPasskey")
	}
	got, err := s.PasskeysOf(ctx, "ana")
	must(t, err, "PasskeysOf")
	checkPasskeyIDs(t, "PasskeysOf", got, "a", "b", "c")
	for _, p := range got {
		checkEqual(t, "PasskeysOf", p, want[string(p.ID)])
	}
	got, err = s.PasskeysOf(ctx, "carla")
	if err != nil || len(got) != 0 {
		t.Errorf("PasskeysOf a citizen without passkeys: got %d, error %v, want 0, nil", len(got), err)
	}
}

// checkPasskeyIDs reports unless ps are the passkeys named names (see
// credID), in that order.
func checkPasskeyIDs(t *testing.T, what string, ps []issuer.Passkey, names ...string) {
	t.Helper()
	ok := len(ps) == len(names)
	for i := 0; ok && i < len(ps); i++ {
		ok = bytes.Equal(ps[i].ID, credID(names[i]))
	}
	if !ok {
		var got []string
		for _, p := range ps {
			got = append(got, strings.TrimPrefix(p.Name, "Mi teléfono "))
		}
		t.Errorf("%s: got passkeys %q, want %q", what, got, names)
	}
}

func testRecordPasskeyUse(t *testing.T, newStore NewStore) {
	for _, tc := range []struct {
		name         string
		stored, seen uint32
		want         error
	}{
		{"counter up by one", 5, 6, nil},
		{"counter jumped", 5, 1000, nil},
		{"counter to the uint32 maximum", 5, math.MaxUint32, nil},
		{"first counter after zero", 0, 1, nil},
		{"both zero: authenticator without counter", 0, 0, nil},
		{"counter equal", 5, 5, issuer.ErrCounter},
		{"counter lower", 5, 4, issuer.ErrCounter},
		{"counter back to zero", 5, 0, issuer.ErrCounter},
		{"counter lower from the maximum", math.MaxUint32, 1, issuer.ErrCounter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ctx := newStore(t), t.Context()
			addCitizens(t, s, "ana")
			base := baseTime()
			p := newPasskey("p1", "ana", base.Add(-48*time.Hour))
			p.SignCount, p.BackupState, p.LastUsed = tc.stored, false, base.Add(-24*time.Hour)
			must(t, s.AddPasskey(ctx, p), "AddPasskey")
			err := s.RecordPasskeyUse(ctx, p.ID, tc.seen, true, base)
			wantErr(t, "RecordPasskeyUse", err, tc.want)
			want := p // refused: nothing changes
			if tc.want == nil {
				want.SignCount, want.BackupState, want.LastUsed = tc.seen, true, base
			}
			got, err := s.Passkey(ctx, p.ID)
			must(t, err, "Passkey")
			checkEqual(t, "Passkey after RecordPasskeyUse", got, want)
		})
	}
}

func testRecordPasskeyUseWithoutCounter(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addCitizens(t, s, "ana")
	base := baseTime()
	p := newPasskey("p1", "ana", base)
	p.BackupState = false
	must(t, s.AddPasskey(ctx, p), "AddPasskey")
	for i, bs := range []bool{true, false, true} {
		at := base.Add(time.Duration(i+1) * time.Minute)
		must(t, s.RecordPasskeyUse(ctx, p.ID, 0, bs, at), "RecordPasskeyUse with counters both zero")
		got, err := s.Passkey(ctx, p.ID)
		must(t, err, "Passkey")
		p.BackupState, p.LastUsed = bs, at
		checkEqual(t, "Passkey after use", got, p)
	}
}

func testRecordPasskeyUseConcurrent(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addCitizens(t, s, "ana")
	p := newPasskey("p1", "ana", baseTime())
	p.SignCount = 5
	must(t, s.AddPasskey(ctx, p), "AddPasskey")
	// Ten logins presenting the same counter: a cloned authenticator must
	// not get in beside the real one.
	errs := together(10, func(int) error {
		return s.RecordPasskeyUse(ctx, p.ID, 6, true, baseTime())
	})
	checkOnce(t, "RecordPasskeyUse of the same counter", errs, issuer.ErrCounter)
	got, err := s.Passkey(ctx, p.ID)
	must(t, err, "Passkey")
	if got.SignCount != 6 {
		t.Errorf("SignCount: got %d, want 6", got.SignCount)
	}
}

func testRenamePasskey(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addCitizens(t, s, "ana", "beto")
	own, other := newPasskey("p1", "ana", baseTime()), newPasskey("p2", "beto", baseTime())
	must(t, s.AddPasskey(ctx, own), "AddPasskey")
	must(t, s.AddPasskey(ctx, other), "AddPasskey")
	must(t, s.RenamePasskey(ctx, "ana", own.ID, "Llave de la oficina 🔑"), "RenamePasskey")
	own.Name = "Llave de la oficina 🔑"
	got, err := s.Passkey(ctx, own.ID)
	must(t, err, "Passkey")
	checkEqual(t, "Passkey after RenamePasskey", got, own)
	wantErr(t, "RenamePasskey of another citizen's passkey", s.RenamePasskey(ctx, "ana", other.ID, "robada"), issuer.ErrNotFound)
	got, err = s.Passkey(ctx, other.ID)
	must(t, err, "Passkey")
	checkEqual(t, "another citizen's passkey after a refused rename", got, other)
}

func testDeletePasskey(t *testing.T, newStore NewStore) {
	for _, tc := range []struct {
		name             string
		own              int // passkeys of the owner, own1…
		codes, usedCodes int // the owner's recovery codes
		target           string
		want             error
		wantOwn          int
		wantOther        int // the other citizen keeps two unless targeted
	}{
		{"one of two", 2, 0, 0, "own1", nil, 1, 2},
		{"last one without recovery codes", 1, 0, 0, "own1", issuer.ErrLastPasskey, 1, 2},
		{"last one with recovery codes left", 1, 2, 1, "own1", nil, 0, 2},
		{"last one with every recovery code used", 1, 2, 2, "own1", issuer.ErrLastPasskey, 1, 2},
		{"another citizen's passkey", 2, 0, 0, "other1", issuer.ErrNotFound, 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ctx := newStore(t), t.Context()
			addCitizens(t, s, "owner", "other")
			for i := range tc.own {
				must(t, s.AddPasskey(ctx, newPasskey("own"+string(rune('1'+i)), "owner", baseTime().Add(time.Duration(i)*time.Second))), "AddPasskey")
			}
			for _, n := range []string{"other1", "other2"} {
				must(t, s.AddPasskey(ctx, newPasskey(n, "other", baseTime())), "AddPasskey")
			}
			var codes [][]byte
			for i := range tc.codes {
				codes = append(codes, blob("code:"+string(rune('a'+i)), 10))
			}
			must(t, s.ReplaceRecoveryCodes(ctx, "owner", codes), "ReplaceRecoveryCodes")
			for _, c := range codes[:tc.usedCodes] {
				_, err := s.UseRecoveryCode(ctx, c)
				must(t, err, "UseRecoveryCode")
			}

			wantErr(t, "DeletePasskey", s.DeletePasskey(ctx, "owner", credID(tc.target)), tc.want)

			for who, want := range map[string]int{"owner": tc.wantOwn, "other": tc.wantOther} {
				ps, err := s.PasskeysOf(ctx, who)
				must(t, err, "PasskeysOf")
				if len(ps) != want {
					t.Errorf("PasskeysOf(%s) afterwards: got %d passkeys, want %d", who, len(ps), want)
				}
			}
			_, err := s.Passkey(ctx, credID(tc.target))
			if tc.want == nil {
				wantErr(t, "Passkey of the deleted passkey", err, issuer.ErrNotFound)
			} else if err != nil {
				t.Errorf("Passkey of the passkey not deleted: got error %v, want nil", err)
			}
		})
	}
}

func testDeletePasskeysExcept(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addCitizens(t, s, "ana", "beto")
	for i, n := range []string{"x", "keep", "y"} {
		must(t, s.AddPasskey(ctx, newPasskey(n, "ana", baseTime().Add(time.Duration(i)*time.Second))), "AddPasskey")
	}
	must(t, s.AddPasskey(ctx, newPasskey("d", "beto", baseTime())), "AddPasskey")
	n, err := s.DeletePasskeysExcept(ctx, "ana", credID("keep"))
	if err != nil || n != 2 {
		t.Errorf("DeletePasskeysExcept: got %d, %v, want 2, nil", n, err)
	}
	ps, err := s.PasskeysOf(ctx, "ana")
	must(t, err, "PasskeysOf")
	checkPasskeyIDs(t, "PasskeysOf after DeletePasskeysExcept", ps, "keep")
	ps, err = s.PasskeysOf(ctx, "beto")
	must(t, err, "PasskeysOf")
	checkPasskeyIDs(t, "another citizen's passkeys after DeletePasskeysExcept", ps, "d")
	n, err = s.DeletePasskeysExcept(ctx, "ana", credID("keep"))
	if err != nil || n != 0 {
		t.Errorf("DeletePasskeysExcept again: got %d, %v, want 0, nil", n, err)
	}
	// keep nil: every passkey of the citizen goes.
	n, err = s.DeletePasskeysExcept(ctx, "ana", nil)
	if err != nil || n != 1 {
		t.Errorf("DeletePasskeysExcept(nil): got %d, %v, want 1, nil", n, err)
	}
	ps, _ = s.PasskeysOf(ctx, "ana")
	checkPasskeyIDs(t, "PasskeysOf after DeletePasskeysExcept(nil)", ps)
}
