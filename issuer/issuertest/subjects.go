package issuertest

import (
	"testing"

	"github.com/cedula/cedula/issuer"
)

func testSubjects(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addCitizens(t, s, "ana", "beto")
	const a, b = "tributaria.example.gov.uy", "salud.example.gov.uy"
	must(t, s.PutSubject(ctx, a, "sub-1", "ana"), "PutSubject")
	must(t, s.PutSubject(ctx, a, "sub-1", "ana"), "PutSubject again (idempotent)")
	must(t, s.PutSubject(ctx, b, "sub-2", "ana"), "PutSubject in another sector")
	for _, tc := range []struct {
		sector, sub string
		want        string
		wantErr     error
	}{
		{a, "sub-1", "ana", nil},
		{b, "sub-2", "ana", nil},
		{b, "sub-1", "", issuer.ErrNotFound},
		{a, "sub-2", "", issuer.ErrNotFound},
		{"otro.example.gov.uy", "sub-1", "", issuer.ErrNotFound},
	} {
		got, err := s.SubjectCitizen(ctx, tc.sector, tc.sub)
		if wantErr(t, "SubjectCitizen("+tc.sector+", "+tc.sub+")", err, tc.wantErr) && got != tc.want {
			t.Errorf("SubjectCitizen(%s, %s): got %q, want %q", tc.sector, tc.sub, got, tc.want)
		}
	}
	// The key is (sector, sub): the same sub in another sector may name
	// another citizen.
	must(t, s.PutSubject(ctx, b, "sub-1", "beto"), "PutSubject of a sub taken in another sector")
	for sector, want := range map[string]string{a: "ana", b: "beto"} {
		got, err := s.SubjectCitizen(ctx, sector, "sub-1")
		if err != nil || got != want {
			t.Errorf("SubjectCitizen(%s, sub-1): got %q, %v, want %q, nil", sector, got, err, want)
		}
	}
}
