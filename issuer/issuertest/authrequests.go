package issuertest

import (
	"testing"
	"time"

	"github.com/cedula/cedula/issuer"
)

func testAuthRequestRoundTrip(t *testing.T, newStore NewStore) {
	base := baseTime()
	zero := uint(0)
	maxAge0 := newAuthRequest("ar-0", "tributaria", base)
	maxAge0.MaxAge = &zero // max_age=0 forces a new login: not the same as absent
	bare := issuer.AuthRequest{
		ID:           "ar-bare",
		ClientID:     "tributaria",
		RedirectURI:  "https://tributaria.example.gov.uy/cb",
		Scopes:       []string{"openid"},
		ResponseType: "code",
		Created:      base.UTC(),
	}
	empty := bare
	empty.ID, empty.Prompt, empty.UILocales = "ar-empty", []string{}, []string{}
	for _, tc := range []struct {
		name string
		r    issuer.AuthRequest
	}{
		{"every field, max_age 600", newAuthRequest("ar-1", "tributaria", base)},
		{"max_age 0", maxAge0},
		{"no max_age, nil slices", bare},
		{"empty slices", empty},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			addClients(t, s, "tributaria")
			must(t, s.CreateAuthRequest(t.Context(), tc.r), "CreateAuthRequest")
			got, err := s.AuthRequest(t.Context(), tc.r.ID)
			must(t, err, "AuthRequest")
			checkEqual(t, "AuthRequest", got, tc.r)
		})
	}
}

// completed creates and completes request id for citizen "ana", and returns
// what the store should now hold.
func completed(t *testing.T, s issuer.Store, id string) issuer.AuthRequest {
	t.Helper()
	r := newAuthRequest(id, "tributaria", baseTime())
	must(t, s.CreateAuthRequest(t.Context(), r), "CreateAuthRequest")
	r.CitizenID, r.Subject, r.AMR, r.AuthTime, r.Done = "ana", "sub-ana", []string{"hwk", "user"}, baseTime().Add(-30*time.Second), true
	r.SessionID = "sid-" + id
	r.Verification = "v-" + id
	must(t, s.CompleteAuthRequest(t.Context(), id, issuer.Completion{CitizenID: r.CitizenID, Subject: r.Subject, SessionID: r.SessionID,
		AMR: r.AMR, AuthTime: r.AuthTime, Verification: r.Verification}), "CompleteAuthRequest")
	return r
}

func testCompleteAuthRequest(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addCitizens(t, s, "ana")
	addClients(t, s, "tributaria")
	pending := newAuthRequest("ar-2", "tributaria", baseTime())
	must(t, s.CreateAuthRequest(ctx, pending), "CreateAuthRequest")
	want := completed(t, s, "ar-1")
	got, err := s.AuthRequest(ctx, "ar-1")
	must(t, err, "AuthRequest")
	checkEqual(t, "AuthRequest after CompleteAuthRequest", got, want)
	got, err = s.AuthRequest(ctx, "ar-2")
	must(t, err, "AuthRequest")
	checkEqual(t, "another request after CompleteAuthRequest", got, pending)
}

func testAuthRequestCode(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addCitizens(t, s, "ana")
	addClients(t, s, "tributaria")
	want := completed(t, s, "ar-1")
	other := completed(t, s, "ar-2")
	must(t, s.SaveCode(ctx, "ar-1", "code-hash-1"), "SaveCode")
	want.Code = "code-hash-1"
	got, err := s.AuthRequestByCode(ctx, "code-hash-1")
	must(t, err, "AuthRequestByCode")
	checkEqual(t, "AuthRequestByCode", got, want)
	got, err = s.AuthRequest(ctx, "ar-1")
	must(t, err, "AuthRequest")
	checkEqual(t, "AuthRequest after SaveCode", got, want)
	got, err = s.AuthRequest(ctx, "ar-2")
	must(t, err, "AuthRequest")
	checkEqual(t, "another request after SaveCode", got, other)
	_, err = s.AuthRequestByCode(ctx, "code-hash-2")
	wantErr(t, "AuthRequestByCode of another code", err, issuer.ErrNotFound)
}

func testDeleteAuthRequest(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addCitizens(t, s, "ana")
	addClients(t, s, "tributaria")
	completed(t, s, "ar-1")
	must(t, s.SaveCode(ctx, "ar-1", "code-hash-1"), "SaveCode")
	other := newAuthRequest("ar-2", "tributaria", baseTime())
	must(t, s.CreateAuthRequest(ctx, other), "CreateAuthRequest")
	must(t, s.DeleteAuthRequest(ctx, "ar-1"), "DeleteAuthRequest")
	_, err := s.AuthRequest(ctx, "ar-1")
	wantErr(t, "AuthRequest after DeleteAuthRequest", err, issuer.ErrNotFound)
	_, err = s.AuthRequestByCode(ctx, "code-hash-1")
	wantErr(t, "AuthRequestByCode after DeleteAuthRequest", err, issuer.ErrNotFound)
	got, err := s.AuthRequest(ctx, "ar-2")
	must(t, err, "AuthRequest of another request")
	checkEqual(t, "another request after DeleteAuthRequest", got, other)
}

func testDeleteAuthRequestsBefore(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	addClients(t, s, "tributaria")
	cut := baseTime().Truncate(time.Microsecond)
	requests := []struct {
		id      string
		created time.Time
		gone    bool
	}{
		{"old", cut.Add(-time.Hour), true},
		{"just-before", cut.Add(-time.Microsecond), true},
		{"at", cut, false},
		{"after", cut.Add(time.Hour), false},
	}
	for _, r := range requests {
		must(t, s.CreateAuthRequest(ctx, newAuthRequest(r.id, "tributaria", r.created)), "CreateAuthRequest")
	}
	n, err := s.DeleteAuthRequestsBefore(ctx, cut)
	if err != nil || n != 2 {
		t.Errorf("DeleteAuthRequestsBefore: got %d, %v, want 2, nil", n, err)
	}
	for _, r := range requests {
		_, err := s.AuthRequest(ctx, r.id)
		if r.gone {
			wantErr(t, "AuthRequest "+r.id+" after DeleteAuthRequestsBefore", err, issuer.ErrNotFound)
		} else if err != nil {
			t.Errorf("AuthRequest %s after DeleteAuthRequestsBefore: got error %v, want nil", r.id, err)
		}
	}
}
