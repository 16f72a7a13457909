package oidcop

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// Verified claims (OpenID Connect for Identity Assurance 1.0): an agency
// that is a plain OIDC client asks, with the claims parameter (OIDC Core
// §5.5), for verified_claims in the ID token or at userinfo. The provider
// reads the parameter, hands it to the bridge, which checks it against the
// agency's purposes and plans the presentation, keeps the plan with the
// authorization request, has the bridge verify when the citizen approves,
// and asks it for the verified_claims when it makes the ID token and
// answers userinfo.

// Bridge is the OIDC bridge to the verifier.
type Bridge interface {
	// Plan reads a request's claims parameter (raw JSON) for clientID
	// with the request's scopes and returns what to keep with the
	// request: nil when it asks for no verified claims. An error
	// wrapping ErrClaims is the client's (invalid_request); any other is
	// the server's.
	Plan(ctx context.Context, clientID string, scopes []string, claims []byte) (json.RawMessage, error)
	// Verify has the citizen's wallet present what plan asks, once the
	// citizen has approved the request, and returns a reference to the
	// verification: "" when nothing was verified (the citizen holds no
	// credential that answers, the ledger does not allow it, the
	// presentation failed), which is no error: the login goes on without
	// verified claims (OIDC Core §5.5.1 lets claims go unreturned).
	Verify(ctx context.Context, citizenID, clientID string, plan json.RawMessage) (string, error)
	// Claims returns the verified_claims member for target (TargetIDToken
	// or TargetUserinfo) of the verification ref, or nil when there are
	// none to give (none asked there, the result gone, the ledger says
	// no now).
	Claims(ctx context.Context, citizenID, clientID string, plan json.RawMessage, ref, target string) (any, error)
}

// VerifiedScope prefixes a scope that asks the bridge for the verified
// claims of a credential type (verifier.VerifiedScope).
const VerifiedScope = "verified:"

// Where verified claims go (OIDC Core §5.5).
const (
	TargetIDToken  = "id_token"
	TargetUserinfo = "userinfo"
)

// ErrClaims marks a claims parameter the client got wrong.
var ErrClaims = errors.New("invalid claims parameter")

// MaxClaimsParam bounds the claims parameter.
const MaxClaimsParam = 8 << 10

// claimsKey carries an authorization request's claims parameter from the
// front channel to Authorize, and planKey the bridge's plan from Authorize
// to the storage that records the request.
const (
	claimsKey ctxKey = 4
	planKey   ctxKey = 5
)

// withClaims puts the request's claims parameter (query, or form when
// posted) in its context for Authorize, which judges it once the client
// and its redirect URI are known, so that a refusal goes back to the
// client. Without a bridge the parameter is ignored, as discovery says
// (claims_parameter_supported is false).
func (s *server) withClaims(r *http.Request) (*http.Request, *oidc.Error) {
	if s.bridge == nil {
		return r, nil
	}
	v := r.URL.Query().Get("claims")
	if r.Method == http.MethodPost && r.ParseForm() == nil && r.PostForm.Get("claims") != "" {
		v = r.PostForm.Get("claims")
	}
	if v == "" {
		return r, nil
	}
	return r.WithContext(context.WithValue(r.Context(), claimsKey, v)), nil
}

// checkClaimsParam refuses a claims parameter that is not a JSON object
// of bounded size (OIDC Core §5.5); what it asks is the bridge's to judge.
func checkClaimsParam(v string) *oidc.Error {
	if len(v) > MaxClaimsParam {
		return oidc.ErrInvalidRequest().WithDescription("the claims parameter is longer than %d bytes", MaxClaimsParam)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		return oidc.ErrInvalidRequest().WithDescription("the claims parameter is not a JSON object (OIDC Core §5.5)")
	}
	return nil
}

// planClaims has the bridge plan the claims parameter Authorize found in
// ctx and the verified scopes, and returns ctx carrying the plan for
// CreateAuthRequest.
func (s *server) planClaims(ctx context.Context, clientID string, scopes []string) (context.Context, *oidc.Error) {
	raw, _ := ctx.Value(claimsKey).(string)
	if s.bridge == nil || raw == "" && !slices.ContainsFunc(scopes, func(sc string) bool { return strings.HasPrefix(sc, VerifiedScope) }) {
		return ctx, nil
	}
	if raw != "" {
		if e := checkClaimsParam(raw); e != nil {
			return ctx, e
		}
	}
	plan, err := s.bridge.Plan(ctx, clientID, scopes, []byte(raw))
	switch {
	case errors.Is(err, ErrClaims):
		return ctx, oidc.ErrInvalidRequest().WithDescription("%s", err.Error())
	case err != nil:
		s.st.log.ErrorContext(ctx, "authorize: the claims parameter could not be planned", "client_id", clientID, "err", err)
		return ctx, oidc.ErrServerError().WithDescription("the request could not be handled; retry later")
	case plan == nil:
		return ctx, nil
	}
	return context.WithValue(ctx, planKey, plan), nil
}

func planFrom(ctx context.Context) json.RawMessage {
	v, _ := ctx.Value(planKey).(json.RawMessage)
	return v
}
