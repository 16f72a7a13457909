package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/cedula/cedula/issuer/oidcop"
	"github.com/cedula/cedula/issuer/pages"
	"github.com/cedula/cedula/verifier"
	"github.com/cedula/cedula/wallet"
)

// bridge is the OIDC bridge (oidcop.Bridge): the provider hands it the
// verified claims an agency asks for; the verifier plans and checks them;
// on the citizen's approval their Cedula wallet presents to the verifier
// in this process, through the same validation as any wallet's answer;
// the verifier's result becomes the verified_claims of the ID token and
// userinfo.
type bridge struct{ s *Server }

var _ oidcop.Bridge = bridge{}

// typeOf maps a credential configuration ID of this server's issuer to
// its type.
func (b bridge) typeOf(id string) (string, bool) {
	if b.s.Issuer == nil {
		return "", false
	}
	t, ok := b.s.Issuer.Type(id)
	if !ok {
		return "", false
	}
	if strings.HasPrefix(t.VCT, "/") {
		return strings.TrimSuffix(b.s.Config.PublicURL, "/") + t.VCT, true
	}
	return t.VCT, true
}

func (b bridge) Plan(ctx context.Context, clientID string, scopes []string, claims []byte) (json.RawMessage, error) {
	plan, err := b.s.Verifier.PlanBridge(ctx, clientID, oidcop.Purposes(scopes), scopes, claims, b.typeOf)
	if errors.Is(err, verifier.ErrClaimsRequest) {
		return nil, fmt.Errorf("%w: %s", oidcop.ErrClaims, strings.TrimPrefix(err.Error(), verifier.ErrClaimsRequest.Error()+": "))
	}
	if err != nil || plan == nil {
		return nil, err
	}
	return json.Marshal(plan)
}

func readPlan(raw json.RawMessage) (*verifier.BridgePlan, error) {
	var p verifier.BridgePlan
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("bridge: plan: %w", err)
	}
	return &p, nil
}

// Verify has the citizen's wallet answer a request of the verifier made
// for the plan. Nothing is presented when the ledger does not allow the
// purpose now (the denial is audited) or the wallet holds no credential
// that can answer here; a presentation the verifier refuses is recorded
// there, with its reason. Those end with "" and no error: the login goes
// on without verified claims.
func (b bridge) Verify(ctx context.Context, citizenID, clientID string, raw json.RawMessage) (string, error) {
	plan, err := readPlan(raw)
	if err != nil {
		return "", err
	}
	v := b.s.Verifier
	if ok, err := v.BridgeAllowed(ctx, citizenID, clientID, plan); err != nil || !ok {
		return "", err
	}
	r, err := v.Create(ctx, clientID, verifier.Create{DCQL: plan.DCQL, Purpose: plan.Purpose, ResponseMode: verifier.ModeDirectPost})
	if err != nil {
		return "", err
	}
	object, err := v.RequestObject(ctx, r.ID, "", nil)
	if err != nil {
		return "", err
	}
	link := "openid4vp://?" + url.Values{"client_id": {v.ClientID()}, "request": {object}}.Encode()
	pr, err := b.s.Wallet.ResolvePresentation(ctx, citizenID, link, "")
	if err != nil {
		return "", err
	}
	a := wallet.Approval{RequestID: pr.ID, Credentials: map[string][]string{}}
	for _, q := range pr.Queries {
		i := slices.IndexFunc(q.Matches, usableHere)
		if i < 0 {
			b.s.log.InfoContext(ctx, "bridge: the citizen's wallet cannot answer here", "client_id", clientID, "query", q.ID)
			return "", v.Cancel(ctx, clientID, r.ID)
		}
		a.Credentials[q.ID] = []string{q.Matches[i].CredentialID}
	}
	_, err = b.s.Wallet.PresentHere(ctx, citizenID, a, func(ctx context.Context, form url.Values) (string, error) {
		err := v.Respond(ctx, r.ID, form)
		var we *verifier.WalletError
		if errors.As(err, &we) {
			return "", &wallet.Error{Kind: wallet.ErrVerifier, Code: we.Code, Detail: "the verifier refused the answer: " + we.Code}
		}
		return "", err
	})
	var werr *wallet.Error
	if errors.As(err, &werr) && (werr.Kind == wallet.ErrVerifier || werr.Kind == wallet.ErrApproval) {
		b.s.log.InfoContext(ctx, "bridge: the presentation did not verify", "client_id", clientID, "code", werr.Code)
		return "", nil
	} else if err != nil {
		return "", err
	}
	view, err := v.Get(ctx, clientID, r.ID)
	if err != nil || view.Status != verifier.StatusVerified {
		return "", err
	}
	return r.ID, nil
}

// usableHere: a valid credential whose key the wallet holds sealed.
func usableHere(m wallet.HeldMatch) bool {
	return (m.KeyMode == wallet.KeySealed || m.KeyMode == "") && m.Status == wallet.StatusValid
}

func (b bridge) Claims(ctx context.Context, citizenID, clientID string, raw json.RawMessage, ref, target string) (any, error) {
	plan, err := readPlan(raw)
	if err != nil {
		return nil, err
	}
	return b.s.Verifier.VerifiedClaims(ctx, citizenID, clientID, plan, ref, target)
}

// describe says, for the consent page in lang, what each credential the
// plan asks for is and which of its claims, and whether the citizen's
// wallet can answer from here.
func (b bridge) describe(ctx context.Context, citizenID string, raw json.RawMessage, lang string) ([]pages.VerifiedAsk, error) {
	plan, err := readPlan(raw)
	if err != nil {
		return nil, err
	}
	qs, _, err := b.s.Wallet.Match(ctx, citizenID, plan.DCQL, lang)
	if err != nil {
		return nil, err
	}
	var out []pages.VerifiedAsk
	for _, q := range qs {
		ask := pages.VerifiedAsk{Held: slices.ContainsFunc(q.Matches, usableHere)}
		for _, m := range q.Matches {
			if ask.Credential == "" && m.Name != "" {
				ask.Credential = m.Name
			}
		}
		if ask.Credential == "" {
			ask.Credential = b.typeName(plan, q.ID, lang)
		}
		for _, c := range q.Claims {
			label := c.Label
			if label == "" && len(c.Path) > 0 {
				label = fmt.Sprint(c.Path[len(c.Path)-1])
			}
			ask.Claims = append(ask.Claims, label)
		}
		out = append(out, ask)
	}
	return out, nil
}

// typeName names the type a query asks for: its display name when this
// server issues it, else the type itself.
func (b bridge) typeName(plan *verifier.BridgePlan, queryID, lang string) string {
	vct := ""
	for _, a := range plan.Asks {
		if a.QueryID == queryID {
			vct = a.VCT
		}
	}
	if b.s.Issuer != nil {
		for _, t := range b.s.Issuer.Types() {
			if t.VCT == vct || strings.TrimSuffix(b.s.Config.PublicURL, "/")+t.VCT == vct {
				if d := t.DisplayIn(lang); d.Name != "" {
					return d.Name
				}
			}
		}
	}
	return vct
}
