package issuertest

import (
	"testing"
	"time"

	"github.com/cedula/cedula/issuer"
)

func testEnrolmentRoundTrip(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addCitizens(t, s, "ana")
	e := newEnrolment("e1", "ana", baseTime())
	must(t, s.CreateEnrolment(ctx, e), "CreateEnrolment")
	got, err := s.Enrolment(ctx, e.TokenHash, baseTime())
	must(t, err, "Enrolment")
	checkEqual(t, "Enrolment", got, e)
}

func testEnrolmentExpiry(t *testing.T, newStore NewStore) {
	for _, tc := range append(expiryCases(issuer.ErrExpired), pastOnWallClock()) {
		t.Run(tc.name, func(t *testing.T) {
			s, ctx := newStore(t), t.Context()
			addCitizens(t, s, "ana")
			e := newEnrolment("e1", "ana", tc.expires.Add(-72*time.Hour))
			must(t, s.CreateEnrolment(ctx, e), "CreateEnrolment")
			got, err := s.Enrolment(ctx, e.TokenHash, tc.at)
			if wantErr(t, "Enrolment", err, tc.want) && err == nil {
				checkEqual(t, "Enrolment", got, e)
			}
			_, err = s.UseEnrolment(ctx, e.TokenHash, tc.at)
			wantErr(t, "UseEnrolment", err, tc.want)
		})
	}
}

func testUseEnrolment(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addCitizens(t, s, "ana")
	e, other := newEnrolment("e1", "ana", baseTime()), newEnrolment("e2", "ana", baseTime())
	must(t, s.CreateEnrolment(ctx, e), "CreateEnrolment")
	must(t, s.CreateEnrolment(ctx, other), "CreateEnrolment")
	now := baseTime().Add(time.Minute)
	got, err := s.UseEnrolment(ctx, e.TokenHash, now)
	must(t, err, "UseEnrolment")
	checkEqual(t, "UseEnrolment", got, e, "Used")
	_, err = s.Enrolment(ctx, e.TokenHash, now)
	wantErr(t, "Enrolment after use", err, issuer.ErrUsed)
	_, err = s.UseEnrolment(ctx, e.TokenHash, now.Add(time.Second))
	wantErr(t, "UseEnrolment again", err, issuer.ErrUsed)
	got, err = s.Enrolment(ctx, other.TokenHash, now)
	if err != nil {
		t.Fatalf("Enrolment of another link of the citizen: got error %v, want nil", err)
	}
	checkEqual(t, "another link of the citizen", got, other)
}

func testUseEnrolmentConcurrent(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addCitizens(t, s, "ana")
	e := newEnrolment("e1", "ana", baseTime())
	must(t, s.CreateEnrolment(ctx, e), "CreateEnrolment")
	errs := together(20, func(int) error {
		_, err := s.UseEnrolment(ctx, e.TokenHash, baseTime())
		return err
	})
	checkOnce(t, "UseEnrolment", errs, issuer.ErrUsed)
}
