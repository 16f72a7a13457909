package wallet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/dcql"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/random"
	"github.com/cedula/cedula/internal/sdjwt"
)

// Presenting credentials (OpenID4VP 1.0): ResolvePresentation reads and
// checks a request and says what it asks and which of the citizen's
// credentials answer it; the request is kept, sealed, for RequestTTL.
// Present answers it with only the disclosures the citizen approved, each
// presentation with a key-binding JWT; when a chosen credential's key is
// on the phone, Present hands back the KB-JWTs' signing inputs and
// FinishPresent takes the signatures and sends. DeclinePresentation
// tells the verifier no. Each outcome lands in the citizen's presentation
// history, with its audit entry, in one transaction.

// Audit actions of presentations.
const (
	ActionPresent = "wallet.present"
	ActionDecline = "wallet.decline"
)

// KBType is the key-binding JWT's typ (RFC 9901 §4.3).
const KBType = "kb+jwt"

// RequestTTL is how long a resolved request waits for the citizen.
const RequestTTL = 10 * time.Minute

// Consents records consent events in the ledger; consent.Service is one.
type Consents interface {
	// Agree records the citizen's (subject's: the citizen ID, not the
	// audit pseudonym) consent to each of purposes that rests on consent
	// and is not in force, for verifier v; an error when v may not ask
	// under a purpose (it does not act for the purpose's controller).
	Agree(ctx context.Context, subject string, v Verifier, purposes []string, method consent.Method) (Basis, error)
}

// Basis is what a presentation for a registered purpose rests on, as the
// audit log names it (audit.Entry): the purpose's DPV code, the legal
// basis, the consent record (consent.AuditRecord). The zero Basis: the
// purpose is not registered, the verifier's own word.
type Basis struct {
	Purpose, LegalBasis, ConsentRecord string
}

// PresentationRequest is a checked request as the citizen sees it.
type PresentationRequest struct {
	ID       string // to answer with
	Expires  time.Time
	Verifier Verifier
	// Purpose is the registered purpose the verifier names, if any.
	Purpose string
	Queries []QueryMatch
	// CredentialSets are the verifier's alternatives (nil: every query
	// is asked).
	CredentialSets []CredentialSetView
	// Answerable: the citizen holds what every required part asks.
	Answerable bool
}

// Approval is the citizen's answer to a request.
type Approval struct {
	RequestID string
	// Credentials are, by credential query ID, the held credentials to
	// present (one, unless the query allows multiple). Queries of
	// optional credential sets the citizen leaves out are not named.
	Credentials map[string][]string
	// ClaimSets are, by credential query ID, the index of the claim set
	// chosen; without one, the first the credentials satisfy.
	ClaimSets map[string]int
}

// Outcome is how a presentation ended.
type Outcome string

const (
	OutcomeSent     Outcome = "sent"
	OutcomeDeclined Outcome = "declined"
	OutcomeFailed   Outcome = "failed"
)

// Presentation is one entry of the citizen's presentation history.
type Presentation struct {
	ID               string
	At               time.Time
	VerifierID       string // the client_id
	VerifierName     string
	VerifierVerified bool
	Purpose          string
	Outcome          Outcome
	Credentials      []PresentedCredential
}

// PresentedCredential says which credential answered which query, with
// which claims (paths, as JSON arrays) disclosed; never their values.
type PresentedCredential struct {
	QueryID      string
	CredentialID string
	VCT          string
	Claims       []string
}

// Presented is what answering a request gave.
type Presented struct {
	// Pending, when set, holds the KB-JWT signing inputs the phone must
	// sign; nothing was sent yet (FinishPresent).
	Pending *PendingPresentation
	// Presentation is the history entry, once sent.
	Presentation Presentation
	// RedirectURI is where the verifier asks the citizen's browser to go
	// next (§8.2), for the app to open; the wallet does not follow it.
	RedirectURI string
}

// PendingPresentation is a presentation waiting for the phone's
// signatures.
type PendingPresentation struct {
	ID            string
	Expires       time.Time
	SigningInputs []KBInput
}

// KBInput is one key-binding JWT the phone must sign.
type KBInput struct {
	QueryID, CredentialID string
	Alg                   string // ES256
	// Input is the JWS signing input; the phone answers the base64url
	// signature (R || S).
	Input string
	// Key is the phone's public JWK that must sign it.
	Key json.RawMessage
}

// PresentationRecord is a history entry as stored: sealed but for its
// owner, ID and time.
type PresentationRecord struct {
	ID        string
	CitizenID string
	At        time.Time
	Sealed    []byte
}

// PresentationStore keeps the presentation history.
type PresentationStore interface {
	// PutPresentation stores r, replaces the sealed content of the
	// credential records in used (their instances' use counts; a record
	// deleted meanwhile is skipped), and appends entries, in one
	// transaction.
	PutPresentation(ctx context.Context, r PresentationRecord, used []Record, entries ...audit.Entry) error
	// ListPresentations returns the citizen's history, newest first.
	ListPresentations(ctx context.Context, citizenID string) ([]PresentationRecord, error)
}

func historyLabel(id string) string { return "wallet/presentation/" + id }

// kept is a kept request or pending presentation (sealed).
type kept struct {
	Request *request `json:"request"`
	// The rest is for a pending presentation only.
	History Presentation   `json:"history,omitzero"`
	Tokens  []keptToken    `json:"tokens,omitempty"`
	Picks   []usedInstance `json:"picks,omitempty"`
	Inputs  []KBInput      `json:"inputs,omitempty"`
}

// keptToken is one presentation of a pending vp_token: complete, or
// waiting for the phone's signature over Input.
type keptToken struct {
	QueryID      string          `json:"query_id"`
	Presentation string          `json:"presentation"` // complete, or the SD-JWT without its KB-JWT
	Input        string          `json:"input,omitempty"`
	Key          json.RawMessage `json:"key,omitempty"`
}

// usedInstance is a credential instance used by a presentation.
type usedInstance struct {
	CredentialID string `json:"credential_id"`
	Instance     int    `json:"instance"`
}

const (
	requestPrefix = "vr-"
	pendingPrefix = "vk-"
)

func (s *Service) stores() (PendingStore, PresentationStore, error) {
	ps, ok1 := s.cfg.Store.(PendingStore)
	hs, ok2 := s.cfg.Store.(PresentationStore)
	if !ok1 || !ok2 {
		return nil, nil, fail(ErrUnsupported, nil, "this wallet keeps no presentation requests")
	}
	return ps, hs, nil
}

func (s *Service) keep(ctx context.Context, ps PendingStore, citizenID, id string, expires time.Time, k *kept) error {
	b, err := json.Marshal(k)
	if err != nil {
		return err
	}
	sealed, err := s.cfg.Sealer.SealData(ctx, s.cfg.Subject(citizenID), requestLabel(id), b)
	if err != nil {
		return err
	}
	return ps.PutPending(ctx, PendingRecord{ID: id, CitizenID: citizenID, Expires: expires, Sealed: sealed})
}

// take takes a kept request or pending presentation, once.
func (s *Service) take(ctx context.Context, ps PendingStore, citizenID, id, prefix string) (*kept, PendingRecord, error) {
	if !strings.HasPrefix(id, prefix) {
		return nil, PendingRecord{}, ErrNotFound
	}
	rec, err := ps.TakePending(ctx, citizenID, id, s.cfg.Now())
	if err != nil {
		return nil, rec, err
	}
	b, err := s.cfg.Sealer.OpenData(ctx, s.cfg.Subject(citizenID), requestLabel(id), rec.Sealed)
	if err != nil {
		return nil, rec, fmt.Errorf("wallet: open request %s: %w", id, err)
	}
	var k kept
	if err := json.Unmarshal(b, &k); err != nil || k.Request == nil {
		return nil, rec, fmt.Errorf("wallet: open request %s: %v", id, err)
	}
	return &k, rec, nil
}

// ResolvePresentation reads a scanned presentation request (an
// openid4vp:// URI, or any URI with the same query), fetches and checks
// its request object, and matches its DCQL query to the citizen's
// credentials.
func (s *Service) ResolvePresentation(ctx context.Context, citizenID, link, lang string) (PresentationRequest, error) {
	ps, _, err := s.stores()
	if err != nil {
		return PresentationRequest{}, err
	}
	r, err := s.resolveRequest(ctx, link)
	if err != nil {
		return PresentationRequest{}, err
	}
	q, err := parseQuery(r.DCQL)
	if err != nil {
		return PresentationRequest{}, err
	}
	out := PresentationRequest{ID: requestPrefix + random.Token(16), Expires: s.cfg.Now().Add(RequestTTL), Verifier: r.Verifier,
		Purpose: r.Purpose}
	if out.Queries, out.CredentialSets, out.Answerable, err = s.match(ctx, citizenID, q, lang); err != nil {
		return PresentationRequest{}, err
	}
	if err := s.keep(ctx, ps, citizenID, out.ID, out.Expires, &kept{Request: r}); err != nil {
		return PresentationRequest{}, err
	}
	return out, nil
}

// Match says which of the citizen's credentials answer a DCQL query, as
// ResolvePresentation does for a request, without keeping anything: for
// a page that shows the citizen what a request will take.
func (s *Service) Match(ctx context.Context, citizenID string, query json.RawMessage, lang string) ([]QueryMatch, bool, error) {
	q, err := parseQuery(query)
	if err != nil {
		return nil, false, err
	}
	qs, _, ok, err := s.match(ctx, citizenID, q, lang)
	return qs, ok, err
}

func (s *Service) match(ctx context.Context, citizenID string, q *dcql.Query, lang string) ([]QueryMatch, []CredentialSetView, bool, error) {
	creds, err := s.openAll(ctx, citizenID, lang)
	if err != nil {
		return nil, nil, false, err
	}
	var qs []QueryMatch
	var sets []CredentialSetView
	answered := map[string]bool{}
	for i := range q.Credentials {
		m := matchQuery(&q.Credentials[i], creds)
		answered[m.ID] = len(m.Matches) > 0
		qs = append(qs, m)
	}
	for _, cs := range q.CredentialSets {
		sets = append(sets, CredentialSetView{Options: cs.Options, Required: cs.IsRequired()})
	}
	return qs, sets, q.Answered(answered), nil
}

// openAll opens the citizen's credentials for matching.
func (s *Service) openAll(ctx context.Context, citizenID, lang string) ([]heldCredential, error) {
	rs, err := s.cfg.Store.ListCredentials(ctx, citizenID)
	if err != nil {
		return nil, err
	}
	var out []heldCredential
	for _, r := range rs {
		if len(r.Sealed) == 0 { // the list gave the summary alone
			if r, err = s.cfg.Store.GetCredential(ctx, citizenID, r.ID); errors.Is(err, ErrNotFound) {
				continue // deleted meanwhile
			} else if err != nil {
				return nil, err
			}
		}
		h, err := s.open(ctx, r)
		if err != nil {
			return nil, err
		}
		v, err := s.view(ctx, r, lang, false)
		if err != nil {
			return nil, err
		}
		claims, _, _, err := openClaims(h.Instances[0].Credential)
		if err != nil {
			return nil, fmt.Errorf("wallet: %s: %w", r.ID, err)
		}
		out = append(out, heldCredential{view: v, held: h, claims: claims})
	}
	return out, nil
}

// Present answers a resolved request with the credentials and claims the
// citizen approved. When every chosen credential's key is sealed, it is
// sent now; when one is on the phone, the answer waits (Presented.Pending)
// for FinishPresent.
func (s *Service) Present(ctx context.Context, citizenID string, a Approval) (Presented, error) {
	ps, _, err := s.stores()
	if err != nil {
		return Presented{}, err
	}
	k, rec, err := s.take(ctx, ps, citizenID, a.RequestID, requestPrefix)
	if err != nil {
		return Presented{}, err
	}
	p, err := s.prepare(ctx, citizenID, k.Request, a)
	if err != nil {
		if errors.Is(err, ErrApproval) { // the citizen may answer again
			_ = ps.PutPending(ctx, rec)
		}
		return Presented{}, err
	}
	if len(p.Inputs) > 0 {
		id := pendingPrefix + random.Token(16)
		pp := &PendingPresentation{ID: id, Expires: s.cfg.Now().Add(PendingTTL), SigningInputs: p.Inputs}
		if err := s.keep(ctx, ps, citizenID, id, pp.Expires, p); err != nil {
			return Presented{}, err
		}
		return Presented{Pending: pp}, nil
	}
	return s.send(ctx, citizenID, p)
}

// Deliver hands an answer's form to a verifier in this process and
// returns the redirect_uri it answers, if any.
type Deliver func(ctx context.Context, form url.Values) (string, error)

// PresentHere answers a request of Cedula's own verifier that the citizen
// approved in this server's own pages — the OIDC bridge's — as Present
// does, but the answer goes to deliver rather than over the network, no
// consent event is recorded here (the pages recorded the citizen's
// decision), and only credentials whose keys the wallet holds sealed can
// answer: no phone is there to sign.
func (s *Service) PresentHere(ctx context.Context, citizenID string, a Approval, deliver Deliver) (Presented, error) {
	ps, _, err := s.stores()
	if err != nil {
		return Presented{}, err
	}
	k, _, err := s.take(ctx, ps, citizenID, a.RequestID, requestPrefix)
	if err != nil {
		return Presented{}, err
	}
	p, err := s.prepare(ctx, citizenID, k.Request, a)
	if err != nil {
		return Presented{}, err
	}
	if len(p.Inputs) > 0 {
		return Presented{}, fail(ErrApproval, nil, "a credential whose key is on the phone cannot answer here; present it from the app")
	}
	return s.sendVia(ctx, citizenID, p, deliver)
}

// FinishPresent sends a pending presentation with the phone's
// signatures, one per signing input, in their order. A signature that
// does not verify voids the presentation (nothing is sent).
func (s *Service) FinishPresent(ctx context.Context, citizenID, pendingID string, signatures []string) (Presented, error) {
	ps, _, err := s.stores()
	if err != nil {
		return Presented{}, err
	}
	k, _, err := s.take(ctx, ps, citizenID, pendingID, pendingPrefix)
	if err != nil {
		return Presented{}, err
	}
	if len(signatures) != len(k.Inputs) {
		return Presented{}, fail(ErrApproval, nil, "%d signatures for %d signing inputs; the presentation is void, start again", len(signatures), len(k.Inputs))
	}
	n := 0
	for i := range k.Tokens {
		t := &k.Tokens[i]
		if t.Input == "" {
			continue
		}
		kb := t.Input + "." + signatures[n]
		if _, err := jose.VerifyJWK([]byte(kb), t.Key, keys.ES256); err != nil {
			return Presented{}, fail(ErrApproval, err, "signature %d does not verify with the credential's device key; the presentation is void, start again", n)
		}
		t.Presentation += kb
		t.Input, t.Key = "", nil
		n++
	}
	return s.send(ctx, citizenID, k)
}

// DeclinePresentation tells the verifier the citizen said no
// (access_denied, §8.5) in the request's response mode — encrypted for
// direct_post.jwt — and records it.
func (s *Service) DeclinePresentation(ctx context.Context, citizenID, requestID string) (Presented, error) {
	ps, _, err := s.stores()
	if err != nil {
		return Presented{}, err
	}
	k, _, err := s.take(ctx, ps, citizenID, requestID, requestPrefix)
	if err != nil {
		return Presented{}, err
	}
	r := k.Request
	answer := map[string]any{"error": "access_denied", "error_description": "the citizen declined"}
	form, err := r.responseForm(answer)
	if err != nil {
		// §8.3.1: a wallet unable to encrypt may send the error in clear.
		clear := *r
		clear.ResponseMode = ModeDirectPost
		form, _ = clear.responseForm(answer)
	}
	h := s.historyOf(r)
	h.Outcome = OutcomeDeclined
	redirect, sendErr := s.post(ctx, r.Verifier.ResponseURI, form)
	if sendErr != nil {
		h.Outcome = OutcomeFailed
	}
	if err := s.record(ctx, citizenID, &h, nil, ActionDecline, Basis{}); err != nil {
		return Presented{}, err
	}
	return Presented{Presentation: h, RedirectURI: redirect}, sendErr
}

func (s *Service) historyOf(r *request) Presentation {
	return Presentation{ID: "wh-" + random.Token(16), VerifierID: r.Verifier.ClientID, VerifierName: r.Verifier.Name,
		VerifierVerified: r.Verifier.Verified, Purpose: r.Purpose}
}

// prepare builds the presentations an approval asks for: the sealed
// keys' KB-JWTs signed, the phone's left as signing inputs.
func (s *Service) prepare(ctx context.Context, citizenID string, r *request, a Approval) (*kept, error) {
	q, err := parseQuery(r.DCQL)
	if err != nil {
		return nil, err
	}
	creds, err := s.openAll(ctx, citizenID, "")
	if err != nil {
		return nil, err
	}
	chosen := map[string]bool{}
	for id, cs := range a.Credentials {
		if len(cs) > 0 {
			chosen[id] = true
		}
	}
	if err := checkChoice(q, chosen); err != nil {
		return nil, err
	}
	k := &kept{Request: r, History: s.historyOf(r)}
	used := map[usedInstance]bool{}
	for i := range q.Credentials {
		cq := &q.Credentials[i]
		ids := a.Credentials[cq.ID]
		if len(ids) == 0 {
			continue
		}
		if len(ids) > 1 && !cq.Multiple {
			return nil, fail(ErrApproval, nil, "the query %q takes one credential", cq.ID)
		}
		m := matchQuery(cq, creds)
		set, err := claimSet(cq, m, ids, a.ClaimSets)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			c := creds[slices.IndexFunc(creds, func(c heldCredential) bool { return c.view.ID == id })]
			if err := s.presentOne(k, cq, set, c, used); err != nil {
				return nil, err
			}
		}
	}
	return k, nil
}

// checkChoice holds the chosen queries to the credential sets: each
// required set answered, and nothing chosen outside an answered option.
func checkChoice(q *dcql.Query, chosen map[string]bool) error {
	for id := range chosen {
		if !slices.ContainsFunc(q.Credentials, func(c dcql.CredentialQuery) bool { return c.ID == id }) {
			return fail(ErrApproval, nil, "the request has no credential query %.64q", id)
		}
	}
	if !q.Answered(chosen) {
		return fail(ErrApproval, nil, "the approval leaves out a credential the verifier requires")
	}
	for id := range chosen {
		if !q.InOption(id, chosen) {
			return fail(ErrApproval, nil, "the credential query %q is chosen outside a complete option of its credential set", id)
		}
	}
	return nil
}

// claimSet says which claims queries of cq go out: all, or those of the
// chosen (or first common) claim set, which every chosen credential must
// satisfy.
func claimSet(cq *dcql.CredentialQuery, m QueryMatch, ids []string, choice map[string]int) ([]dcql.ClaimQuery, error) {
	var sets []int
	for n, id := range ids {
		i := slices.IndexFunc(m.Matches, func(h HeldMatch) bool { return h.CredentialID == id })
		if i < 0 {
			return nil, fail(ErrApproval, nil, "the credential %.64q does not answer the query %q", id, cq.ID)
		}
		if n == 0 {
			sets = m.Matches[i].ClaimSets
		} else {
			sets = slices.DeleteFunc(sets, func(s int) bool { return !slices.Contains(m.Matches[i].ClaimSets, s) })
		}
	}
	if cq.ClaimSets == nil {
		return cq.Claims, nil
	}
	set, ok := choice[cq.ID]
	if !ok && len(sets) > 0 {
		set = sets[0]
	}
	if !slices.Contains(sets, set) {
		return nil, fail(ErrApproval, nil, "the chosen credentials do not satisfy claim set %d of the query %q", set, cq.ID)
	}
	var out []dcql.ClaimQuery
	for _, cl := range cq.Claims {
		if slices.Contains(cq.ClaimSets[set], cl.ID) {
			out = append(out, cl)
		}
	}
	return out, nil
}

// presentOne builds one presentation of c with the claims asked: the
// least used instance (not yet used in this answer), only the
// disclosures those claims need, and its KB-JWT.
func (s *Service) presentOne(k *kept, cq *dcql.CredentialQuery, claims []dcql.ClaimQuery, c heldCredential, used map[usedInstance]bool) error {
	best := -1
	for i, in := range c.held.Instances {
		p := usedInstance{CredentialID: c.view.ID, Instance: i}
		if best < 0 || !used[p] && (used[usedInstance{c.view.ID, best}] || in.Used < c.held.Instances[best].Used) {
			best = i
		}
	}
	p := usedInstance{CredentialID: c.view.ID, Instance: best}
	used[p] = true
	k.Picks = append(k.Picks, p)
	in := c.held.Instances[best]
	all, locs, parsed, err := openClaims(in.Credential)
	if err != nil {
		return fmt.Errorf("wallet: %s: %w", c.view.ID, err)
	}
	var paths [][]any
	pc := PresentedCredential{QueryID: cq.ID, CredentialID: c.view.ID, VCT: c.view.VCT}
	for _, cl := range claims {
		for _, sel := range cl.Select(all) {
			paths = append(paths, sel.Path)
			pc.Claims = append(pc.Claims, pathString(sel.Path))
		}
	}
	k.History.Credentials = append(k.History.Credentials, pc)
	pres := sdjwt.Serialize(parsed.JWT, disclosuresFor(locs, paths), "")
	input, err := jose.SigningInput(map[string]any{"alg": string(keys.ES256), "typ": KBType},
		map[string]any{"iat": s.cfg.Now().Unix(), "aud": k.Request.Verifier.ClientID, "nonce": k.Request.Nonce, "sd_hash": sdjwt.SDHash(pres)})
	if err != nil {
		return err
	}
	t := keptToken{QueryID: cq.ID, Presentation: pres}
	switch {
	case len(in.Key) > 0:
		key, err := jose.ParseClientKey(in.Key)
		if err != nil {
			return fmt.Errorf("wallet: %s: holder key: %w", c.view.ID, err)
		}
		kb, err := key.SignInput(input)
		if err != nil {
			return err
		}
		t.Presentation += kb
	case len(in.DeviceKey) > 0:
		t.Input, t.Key = input, in.DeviceKey
		k.Inputs = append(k.Inputs, KBInput{QueryID: cq.ID, CredentialID: c.view.ID, Alg: string(keys.ES256), Input: input, Key: in.DeviceKey})
	default:
		return fmt.Errorf("wallet: %s has no holder key", c.view.ID)
	}
	k.Tokens = append(k.Tokens, t)
	return nil
}

// send posts the vp_token (§8.2, §8.3.1) and records the outcome.
func (s *Service) send(ctx context.Context, citizenID string, k *kept) (Presented, error) {
	return s.sendVia(ctx, citizenID, k, nil)
}

// sendVia sends the vp_token to deliver, or posts it when deliver is nil
// (after recording the approval as a consent event).
func (s *Service) sendVia(ctx context.Context, citizenID string, k *kept, deliver Deliver) (Presented, error) {
	r := k.Request
	token := map[string][]string{}
	for _, t := range k.Tokens {
		token[t.QueryID] = append(token[t.QueryID], t.Presentation)
	}
	form, err := r.responseForm(map[string]any{"vp_token": token})
	if err != nil {
		return Presented{}, fail(ErrRequest, err, "the response cannot be encrypted to the verifier's key")
	}
	// The approval is a consent event when the answer is about to go —
	// with keys on the phone, once its signatures verified — so that an
	// approval the phone never signed is not one.
	var basis Basis
	if s.cfg.Consents != nil && r.Purpose != "" && deliver == nil {
		if basis, err = s.cfg.Consents.Agree(ctx, citizenID, r.Verifier, []string{r.Purpose}, consent.MethodMobile); err != nil {
			return Presented{}, fail(ErrRequest, err, "the purpose %.80q could not be agreed to in the consent ledger", r.Purpose)
		}
	}
	h := k.History
	h.Outcome = OutcomeSent
	var redirect string
	var sendErr error
	if deliver != nil {
		redirect, sendErr = deliver(ctx, form)
	} else {
		redirect, sendErr = s.post(ctx, r.Verifier.ResponseURI, form)
	}
	if sendErr != nil {
		h.Outcome = OutcomeFailed
	}
	if err := s.record(ctx, citizenID, &h, k.Picks, ActionPresent, basis); err != nil {
		return Presented{}, err
	}
	return Presented{Presentation: h, RedirectURI: redirect}, sendErr
}

// responseForm is the body of an answer to r, a response or an error
// response, with r's state: with direct_post its parameters themselves
// (§8.2; values that are not strings as JSON), with direct_post.jwt one
// JWE of them all to the verifier's key in the response parameter
// (§8.3.1), errors included: "both successful and error responses SHOULD
// be returned using the supplied Response Mode" (§5.6).
func (r *request) responseForm(params map[string]any) (url.Values, error) {
	if r.State != "" {
		params["state"] = r.State
	}
	form := url.Values{}
	if r.ResponseMode == ModeDirectPostJWT {
		b, err := json.Marshal(params)
		if err != nil {
			return nil, err
		}
		jwe, err := jose.EncryptTo(r.EncKey, r.Enc, b)
		if err != nil {
			return nil, err
		}
		form.Set("response", jwe)
		return form, nil
	}
	for name, v := range params {
		if s, ok := v.(string); ok {
			form.Set(name, s)
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		form.Set(name, string(b))
	}
	return form, nil
}

// post sends a form to the verifier's response_uri and returns the
// redirect_uri it answers, if any.
func (s *Service) post(ctx context.Context, uri string, form url.Values) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fail(ErrVerifier, err, "response_uri is not usable")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	res, err := s.noRedirects().Do(req)
	if err != nil {
		return "", fail(ErrVerifier, err, "the verifier's response_uri could not be reached")
	}
	defer res.Body.Close()
	var out struct {
		RedirectURI string `json:"redirect_uri"`
		oauthError
	}
	_ = readJSON(res, &out)
	if res.StatusCode != http.StatusOK {
		if out.Error != "" {
			return "", &Error{Kind: ErrVerifier, Code: out.Error, Detail: fmt.Sprintf("the verifier refused the response: %.80s", sanitize(out.Error))}
		}
		return "", fail(ErrVerifier, nil, "the verifier's response_uri answered %d", res.StatusCode)
	}
	if out.RedirectURI != "" && checkURL(out.RedirectURI, s.cfg.AllowHTTP) != nil {
		return "", nil // not an https URL: not for the app to open
	}
	return out.RedirectURI, nil
}

// record stores a history entry with its audit entry, and bumps the use
// counts of the instances picked, in one transaction.
func (s *Service) record(ctx context.Context, citizenID string, h *Presentation, picks []usedInstance, action string, basis Basis) error {
	_, hs, err := s.stores()
	if err != nil {
		return err
	}
	h.At = s.cfg.Now().UTC().Truncate(time.Microsecond)
	var used []Record
	byID := map[string]int{}
	for _, p := range picks {
		byID[p.CredentialID]++
	}
	for id := range byID {
		rec, err := s.cfg.Store.GetCredential(ctx, citizenID, id)
		if err != nil {
			continue // deleted meanwhile
		}
		held, err := s.open(ctx, rec)
		if err != nil {
			return err
		}
		for _, p := range picks {
			if p.CredentialID == id && p.Instance < len(held.Instances) {
				held.Instances[p.Instance].Used++
			}
		}
		if rec.Sealed, err = s.seal(ctx, citizenID, id, held); err != nil {
			return err
		}
		used = append(used, rec)
	}
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	sealed, err := s.cfg.Sealer.SealData(ctx, s.cfg.Subject(citizenID), historyLabel(h.ID), b)
	if err != nil {
		return err
	}
	e := s.entry(citizenID, action, h.ID)
	e.Purpose, e.LegalBasis, e.ConsentRecord = basis.Purpose, basis.LegalBasis, basis.ConsentRecord
	switch h.Outcome {
	case OutcomeDeclined:
		e.Outcome = audit.Denied
	case OutcomeFailed:
		e.Outcome = audit.Failed
	}
	return hs.PutPresentation(ctx, PresentationRecord{ID: h.ID, CitizenID: citizenID, At: h.At, Sealed: sealed}, used, e)
}

// Presentations returns the citizen's presentation history, newest first.
func (s *Service) Presentations(ctx context.Context, citizenID string) ([]Presentation, error) {
	_, hs, err := s.stores()
	if err != nil {
		return nil, err
	}
	rs, err := hs.ListPresentations(ctx, citizenID)
	if err != nil {
		return nil, err
	}
	out := make([]Presentation, 0, len(rs))
	for _, r := range rs {
		var p Presentation
		if err := s.openJSON(ctx, r.CitizenID, historyLabel(r.ID), r.Sealed, "presentation "+r.ID, &p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	slices.SortStableFunc(out, func(a, b Presentation) int { return b.At.Compare(a.At) })
	return out, nil
}
