package issuertest

import (
	"testing"
	"time"

	"github.com/cedula/cedula/issuer"
)

func testCitizenRoundTrip(t *testing.T, newStore NewStore) {
	base := baseTime()
	for _, tc := range []struct {
		name string
		c    issuer.Citizen
	}{
		{"every field", newCitizen("ana", base)},
		{"only ID and creation", issuer.Citizen{ID: "beto", Created: base}},
		{"UTC", issuer.Citizen{ID: "carla", GivenName: "Carla", Locale: "en", Created: base.UTC()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			must(t, s.CreateCitizen(t.Context(), tc.c), "CreateCitizen")
			got, err := s.Citizen(t.Context(), tc.c.ID)
			must(t, err, "Citizen")
			checkEqual(t, "Citizen", got, tc.c)
		})
	}
}

func testCitizenExists(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	first := newCitizen("ana", baseTime())
	must(t, s.CreateCitizen(ctx, first), "CreateCitizen")
	second := issuer.Citizen{ID: "ana", GivenName: "Otra", Created: baseTime().Add(time.Hour)}
	wantErr(t, "CreateCitizen with a taken ID", s.CreateCitizen(ctx, second), issuer.ErrExists)
	got, err := s.Citizen(ctx, "ana")
	must(t, err, "Citizen")
	checkEqual(t, "Citizen after a refused duplicate", got, first)
}
