package issuertest

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cedula/cedula/issuer"
)

// NewStore returns an empty store for one subtest. It is called once per
// subtest and must register any clean-up with t.Cleanup.
type NewStore = func(t *testing.T) issuer.Store

// RunStoreTests runs the conformance suite against the stores newStore
// returns; every subtest gets a fresh, empty store.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) issuer.Store) {
	for _, st := range []struct {
		name string
		run  func(t *testing.T, newStore NewStore)
	}{
		{"NotFound", testNotFound},

		{"CitizenRoundTrip", testCitizenRoundTrip},
		{"CitizenExists", testCitizenExists},
		{"EraseCitizen", testEraseCitizen},

		{"ClientRoundTrip", testClientRoundTrip},
		{"PutClientReplaces", testPutClientReplaces},
		{"ListClients", testListClients},
		{"DeleteClient", testDeleteClient},
		{"GrantRevokePrivilege", testGrantRevokePrivilege},
		{"PutClientKeepPrivileges", testPutClientKeepPrivileges},
		{"PrivilegeConcurrent", testPrivilegeConcurrent},

		{"PasskeyRoundTrip", testPasskeyRoundTrip},
		{"PasskeyExists", testPasskeyExists},
		{"PasskeysOf", testPasskeysOf},
		{"RecordPasskeyUse", testRecordPasskeyUse},
		{"RecordPasskeyUseWithoutCounter", testRecordPasskeyUseWithoutCounter},
		{"RecordPasskeyUseConcurrent", testRecordPasskeyUseConcurrent},
		{"RenamePasskey", testRenamePasskey},
		{"DeletePasskey", testDeletePasskey},
		{"DeletePasskeysExcept", testDeletePasskeysExcept},

		{"EnrolmentRoundTrip", testEnrolmentRoundTrip},
		{"EnrolmentExpiry", testEnrolmentExpiry},
		{"UseEnrolment", testUseEnrolment},
		{"UseEnrolmentConcurrent", testUseEnrolmentConcurrent},

		{"RecoveryCodes", testRecoveryCodes},
		{"RecoveryCodesPerCitizen", testRecoveryCodesPerCitizen},
		{"UseRecoveryCodeConcurrent", testUseRecoveryCodeConcurrent},

		{"Subjects", testSubjects},

		{"AuthRequestRoundTrip", testAuthRequestRoundTrip},
		{"CompleteAuthRequest", testCompleteAuthRequest},
		{"AuthRequestCode", testAuthRequestCode},
		{"DeleteAuthRequest", testDeleteAuthRequest},
		{"DeleteAuthRequestsBefore", testDeleteAuthRequestsBefore},

		{"AccessTokenRoundTrip", testAccessTokenRoundTrip},
		{"RevokeAccessToken", testRevokeAccessToken},
		{"CreateAccessTokenConcurrent", testCreateAccessTokenConcurrent},
		{"CreateRefreshToken", testCreateRefreshToken},
		{"RotateRefreshToken", testRotateRefreshToken},
		{"RotateUsedRefreshToken", testRotateUsedRefreshToken},
		{"RotateRevokedRefreshToken", testRotateRevokedRefreshToken},
		{"RotateRefreshTokenConcurrent", testRotateRefreshTokenConcurrent},
		{"RevokeFamily", testRevokeFamily},
		{"RevokeGrant", testRevokeGrant},
		{"GrantClients", testGrantClients},
		{"DeleteTokensBefore", testDeleteTokensBefore},
		{"RedeemCode", testRedeemCode},
		{"RedeemCodeTwice", testRedeemCodeTwice},
		{"RedeemCodeConcurrent", testRedeemCodeConcurrent},

		{"SessionRoundTrip", testSessionRoundTrip},
		{"SessionExpiry", testSessionExpiry},
		{"DeleteSession", testDeleteSession},
		{"DeleteSessionsOf", testDeleteSessionsOf},
		{"SessionEndQueuesLogouts", testSessionEndQueuesLogouts},
		{"ReauthenticationKeepsSession", testReauthenticationKeepsSession},
		{"DeleteSessionsBySID", testDeleteSessionsBySID},
		{"RevokeGrantQueuesLogouts", testRevokeGrantQueuesLogouts},
		{"EraseCitizenQueuesLogouts", testEraseCitizenQueuesLogouts},
		{"DeleteExpiredSessions", testDeleteExpiredSessions},
		{"ClaimLogouts", testClaimLogouts},
		{"ClaimLogoutsConcurrent", testClaimLogoutsConcurrent},

		{"Ceremony", testCeremony},
		{"CeremonyExpiry", testCeremonyExpiry},
		{"TakeCeremonyConcurrent", testTakeCeremonyConcurrent},
	} {
		t.Run(st.name, func(t *testing.T) { st.run(t, newStore) })
	}
}

// zone is a non-UTC zone for the times the suite stores: stores must hand
// them back in UTC.
var zone = time.FixedZone("UYT", -3*60*60)

// baseTime is close to the wall clock, in zone, with a nanosecond part that
// a store keeping microseconds drops.
func baseTime() time.Time {
	return time.Now().Truncate(time.Second).Add(123456789 * time.Nanosecond).In(zone)
}

// blob returns n ≥ 2 deterministic bytes derived from seed, starting with
// 0x00 and ending with 0xff, to see that stores keep binary data intact.
func blob(seed string, n int) []byte {
	var b []byte
	for h := sha256.Sum256([]byte(seed)); len(b) < n; h = sha256.Sum256(h[:]) {
		b = append(b, h[:]...)
	}
	b = b[:n]
	b[0], b[n-1] = 0x00, 0xff
	return b
}

func must(t *testing.T, err error, op string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
}

// wantErr reports unless errors.Is(err, want); want nil means success.
func wantErr(t *testing.T, op string, err, want error) bool {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", op, err, want)
		return false
	}
	return true
}

// checkEqual reports every field in which got differs from want.
func checkEqual(t *testing.T, what string, got, want any, ignore ...string) {
	t.Helper()
	for _, d := range diff(got, want, ignore...) {
		t.Errorf("%s: %s", what, d)
	}
}

var timeType = reflect.TypeFor[time.Time]()

// diff compares two structs of the same type field by field, ignoring the
// named fields, and describes each difference as "Field: got X, want Y".
// Times are equal when got equals want truncated to the microsecond, and a
// non-zero got must be in UTC; a nil slice equals an empty one.
func diff(got, want any, ignore ...string) []string {
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	if gv.Type() != wv.Type() {
		return []string{fmt.Sprintf("got type %s, want %s", gv.Type(), wv.Type())}
	}
	var out []string
	for i := range wv.NumField() {
		f := wv.Type().Field(i)
		if slices.Contains(ignore, f.Name) {
			continue
		}
		g, w := gv.Field(i), wv.Field(i)
		if f.Type == timeType {
			gt, wt := g.Interface().(time.Time), w.Interface().(time.Time).Truncate(time.Microsecond)
			if !gt.Equal(wt) {
				out = append(out, fmt.Sprintf("%s: got %s, want %s", f.Name, showTime(gt), showTime(wt)))
			}
			if !gt.IsZero() && gt.Location() != time.UTC {
				out = append(out, fmt.Sprintf("%s: got zone %q (%s), want UTC", f.Name, gt.Location(), gt.Format("-07:00")))
			}
			continue
		}
		if !equalValue(g, w) {
			out = append(out, fmt.Sprintf("%s: got %s, want %s", f.Name, show(g), show(w)))
		}
	}
	return out
}

func equalValue(g, w reflect.Value) bool {
	switch w.Kind() {
	case reflect.Slice:
		if g.Len() == 0 && w.Len() == 0 {
			return true
		}
	case reflect.Pointer:
		if g.IsNil() || w.IsNil() {
			return g.IsNil() == w.IsNil()
		}
		return reflect.DeepEqual(g.Elem().Interface(), w.Elem().Interface())
	}
	return reflect.DeepEqual(g.Interface(), w.Interface())
}

func show(v reflect.Value) string {
	switch v.Kind() {
	case reflect.Slice:
		if v.IsNil() {
			return "nil"
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return fmt.Sprintf("%x", v.Bytes())
		}
		return fmt.Sprintf("%q", v.Interface())
	case reflect.Pointer:
		if v.IsNil() {
			return "nil"
		}
		return fmt.Sprintf("&%v", v.Elem().Interface())
	case reflect.String:
		return fmt.Sprintf("%q", v.String())
	}
	return fmt.Sprint(v.Interface())
}

// showTime shows t in UTC, so that two times compare at a glance; the
// location is checked apart.
func showTime(t time.Time) string {
	if t.IsZero() {
		return "the zero time"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// together runs fn(0) … fn(n-1) in n goroutines released at the same
// moment, and returns their errors by index.
func together(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// checkOnce reports unless exactly one of errs is nil and every other one
// is lose. It returns the index of the winner, or -1.
func checkOnce(t *testing.T, op string, errs []error, lose error) int {
	t.Helper()
	winner, wins := -1, 0
	for i, err := range errs {
		switch {
		case err == nil:
			winner = i
			wins++
		case !errors.Is(err, lose):
			t.Errorf("%s (call %d of %d at once): got error %v, want nil or %v", op, i, len(errs), err, lose)
		}
	}
	if wins != 1 {
		t.Errorf("%s (%d calls at once): got %d successes, want exactly 1", op, len(errs), wins)
		return -1
	}
	return winner
}

// expiryCase is a moment at which something expiring at expires is
// looked up, and the error wanted then.
type expiryCase struct {
	name        string
	expires, at time.Time
	want        error
}

// expiryCases are the moments the expiry tests use, around an expiry an
// hour from now on the wall clock.
func expiryCases(expired error) []expiryCase {
	now := baseTime()
	return []expiryCase{
		{"a second before expiry", now.Add(time.Hour), now.Add(time.Hour - time.Second), nil},
		{"a second after expiry", now.Add(time.Hour), now.Add(time.Hour + time.Second), expired},
		{"a month after expiry", now.Add(time.Hour), now.Add(30 * 24 * time.Hour), expired},
	}
}

// pastOnWallClock has the expiry past on the wall clock but not at the now
// the caller gives: a lookup judges by the given now. (House-keeping by the
// wall clock is allowed, so writes are not held to this.)
func pastOnWallClock() expiryCase {
	now := baseTime()
	return expiryCase{"past on the wall clock, not at the given now", now.Add(-2 * time.Hour), now.Add(-3 * time.Hour), nil}
}

// Fixtures. The suite creates the citizens and clients that rows name, so
// that stores may enforce foreign keys.

func newCitizen(id string, created time.Time) issuer.Citizen {
	return issuer.Citizen{
		ID:         id,
		GivenName:  "José María",
		FamilyName: "Núñez O'Neill",
		Birthdate:  "1987-06-05",
		Email:      id + "@example.uy",
		Locale:     "es",
		Created:    created,
	}
}

func addCitizens(t *testing.T, s issuer.Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		must(t, s.CreateCitizen(t.Context(), newCitizen(id, baseTime().Add(-24*time.Hour))), "CreateCitizen "+id)
	}
}

func newClient(id string, created time.Time) issuer.Client {
	return issuer.Client{
		ID:                     id,
		Name:                   "Agencia " + id,
		RedirectURIs:           []string{"https://" + id + ".example.gov.uy/cb", "https://" + id + ".example.gov.uy/cb2?a=1&b=2"},
		PostLogoutRedirectURIs: []string{"https://" + id + ".example.gov.uy/bye"},
		GrantTypes:             []string{issuer.GrantAuthorizationCode, issuer.GrantRefreshToken},
		AuthMethod:             issuer.AuthPrivateKeyJWT,
		SecretHash:             blob("secret:"+id, 32),
		// Whitespace and key order a JSON column would not keep.
		JWKS: []byte("{\"keys\": [\n  {\"kty\": \"EC\", \"crv\": \"P-256\", \"kid\": \"" + id + "-1\"," +
			" \"x\": \"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\", \"y\": \"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}\n]}\n"),
		SubjectType:          issuer.SubjectPairwise,
		SectorID:             id + ".example.gov.uy",
		IDTokenAlg:           "ES256",
		BackchannelLogoutURI: "https://" + id + ".example.gov.uy/backchannel",
		Scopes:               []string{"profile", "email", "birthdate"},
		Created:              created,
	}
}

func addClients(t *testing.T, s issuer.Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		must(t, s.PutClient(t.Context(), newClient(id, baseTime().Add(-24*time.Hour))), "PutClient "+id)
	}
}

func credID(name string) []byte { return blob("credential:"+name, 32) }

func newPasskey(name, citizenID string, created time.Time) issuer.Passkey {
	return issuer.Passkey{
		ID:              credID(name),
		CitizenID:       citizenID,
		Name:            "Mi teléfono " + name,
		PublicKey:       blob("cose:"+name, 77),
		AttestationType: "none",
		AAGUID:          blob("aaguid:"+name, 16),
		SignCount:       0,
		BackupEligible:  true,
		BackupState:     true,
		Transports:      []string{"internal", "hybrid"},
		Created:         created,
	}
}

func newEnrolment(name, citizenID string, created time.Time) issuer.Enrolment {
	return issuer.Enrolment{
		TokenHash: blob("enrolment:"+name, 32),
		CitizenID: citizenID,
		CreatedBy: "registro-civil",
		Created:   created,
		Expires:   created.Add(72 * time.Hour),
	}
}

func newSession(name, citizenID string, authTime time.Time) issuer.Session {
	return issuer.Session{
		IDHash:    blob("session:"+name, 32),
		SID:       "sid-" + name,
		CitizenID: citizenID,
		AMR:       []string{"hwk", "user"},
		AuthTime:  authTime,
		Expires:   authTime.Add(8 * time.Hour),
	}
}

func newAuthRequest(id, clientID string, created time.Time) issuer.AuthRequest {
	maxAge := uint(600)
	return issuer.AuthRequest{
		ID:                  id,
		ClientID:            clientID,
		RedirectURI:         "https://" + clientID + ".example.gov.uy/cb",
		Scopes:              []string{"openid", "profile", "email"},
		State:               "af0ifjsldkj-ñ",
		Nonce:               "n-0S6_WzA2Mj",
		ResponseType:        "code",
		ResponseMode:        "query",
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		Prompt:              []string{"login", "consent"},
		MaxAge:              &maxAge,
		UILocales:           []string{"es-UY", "en"},
		Created:             created,
		Verified:            json.RawMessage(`{"purpose":"tax-check","asks":[{"target":"id_token"}]}`),
	}
}

// newRefreshToken is the token id of family for the grant of citizenID to
// clientID.
func newRefreshToken(id, family, citizenID, clientID string, created time.Time) issuer.RefreshToken {
	return issuer.RefreshToken{
		ID:         id,
		FamilyID:   family,
		ClientID:   clientID,
		CitizenID:  citizenID,
		Subject:    "sub-" + citizenID + "-" + clientID,
		Audience:   []string{clientID, "https://api." + clientID + ".example.gov.uy"},
		Scopes:     []string{"openid", "profile", "offline_access"},
		AMR:        []string{"hwk", "user"},
		AuthTime:   created.Add(-90 * time.Second),
		Created:    created,
		Expiration: created.Add(30 * 24 * time.Hour),
		JKT:        "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
	}
}

// newAccessToken is the access token id issued with rt.
func newAccessToken(id string, rt issuer.RefreshToken) issuer.AccessToken {
	return issuer.AccessToken{
		ID:             id,
		ClientID:       rt.ClientID,
		Subject:        rt.Subject,
		CitizenID:      rt.CitizenID,
		Audience:       rt.Audience,
		Scopes:         rt.Scopes,
		Expiration:     rt.Created.Add(10 * time.Minute),
		RefreshTokenID: rt.ID,
		FamilyID:       rt.FamilyID,
		JKT:            rt.JKT,
	}
}

// family creates a refresh token family "<name>" (first token "<name>-rt",
// its access token "<name>-at") for the grant of citizenID to clientID.
func family(t *testing.T, s issuer.Store, name, citizenID, clientID string) (issuer.RefreshToken, issuer.AccessToken) {
	t.Helper()
	rt := newRefreshToken(name+"-rt", name, citizenID, clientID, baseTime())
	at := newAccessToken(name+"-at", rt)
	must(t, s.CreateRefreshToken(t.Context(), rt, at), "CreateRefreshToken "+rt.ID)
	return rt, at
}
