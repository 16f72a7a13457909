package vci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/random"
	"github.com/cedula/cedula/internal/statuslist"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/credential"
)

// Access is what an access token of the issuer allows.
type Access struct {
	CredentialID string
	CitizenID    string
	// TypeID is the configuration it may issue; ByIdentifier is set when
	// the token response gave credential identifiers (authorization
	// details), which the wallet must then use.
	TypeID       string
	ByIdentifier bool
	// ClientID is the wallet's client ID, "" for anonymous access.
	ClientID string
}

// AccessOf reads an access token; false when it is not one of the issuer's.
func AccessOf(at issuer.AccessToken) (Access, bool) {
	id, ok := strings.CutPrefix(at.FamilyID, familyPrefix)
	if !ok || id == "" {
		return Access{}, false
	}
	a := Access{CredentialID: id, CitizenID: at.CitizenID, ClientID: at.ClientID}
	for _, sc := range at.Scopes {
		if t, ok := strings.CutPrefix(sc, scopeConfiguration); ok {
			a.TypeID = t
		} else if _, ok := strings.CutPrefix(sc, scopeIdentifier); ok {
			a.ByIdentifier = true
		}
	}
	return a, a.TypeID != ""
}

// Nonce returns a fresh c_nonce (§7.2).
func (s *Service) Nonce() string { return s.nonces.make(s.Now().Add(s.cfg.NonceTTL)) }

// Response is a credential response (§8.3) or deferred one (§9.2).
type Response struct {
	// Status is 200 with credentials, 202 with a transaction.
	Status         int
	Credentials    []string
	NotificationID string
	TransactionID  string
	Interval       int
	// EncryptTo, when set, is the wallet's key the response must be
	// encrypted to (§10), with Enc.
	EncryptTo json.RawMessage `json:"-"`
	Enc       string          `json:"-"`
}

// ResponseEncryption is a request's credential_response_encryption.
type ResponseEncryption struct {
	JWK json.RawMessage `json:"jwk"`
	Enc string          `json:"enc"`
	Zip string          `json:"zip"`
}

// encryption checks a request's credential_response_encryption (§8.2):
// allowed only inside an encrypted request (§8.2: a response's
// encryption parameters must not travel in clear, where they could be
// substituted), to a P-256 key with an enc of jose.EncAlgs, without
// compression.
func (s *Service) encryption(raw json.RawMessage, encrypted bool) (*ResponseEncryption, *Error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if s.cfg.Encryption == nil {
		return nil, protocolError(CodeInvalidEncryption, "response encryption is not offered")
	}
	if !encrypted {
		return nil, protocolError(CodeInvalidEncryption, "ask for an encrypted response only in an encrypted request (credential_request_encryption)")
	}
	var re ResponseEncryption
	if err := json.Unmarshal(raw, &re); err != nil || len(re.JWK) == 0 || re.Enc == "" {
		return nil, protocolError(CodeInvalidEncryption, "credential_response_encryption needs jwk and enc")
	}
	if re.Zip != "" {
		return nil, protocolError(CodeInvalidEncryption, "compression (zip) is not supported")
	}
	if _, err := jose.EncryptTo(re.JWK, re.Enc, nil); err != nil {
		return nil, protocolError(CodeInvalidEncryption, strings.TrimPrefix(err.Error(), "jose: invalid encrypted message: "))
	}
	return &re, nil
}

// OpenRequest reads the body of a credential or deferred credential
// request: JSON, or a JWE encrypted to the issuer (application/jwt, §10)
// whose plaintext is the JSON. encrypted says which.
func (s *Service) OpenRequest(contentType string, body []byte) (plain []byte, encrypted bool, err error) {
	if strings.HasPrefix(contentType, "application/jwt") {
		if s.cfg.Encryption == nil {
			return nil, false, protocolError(CodeInvalidEncryption, "encrypted requests are not offered")
		}
		plain, err := s.cfg.Encryption.Decrypt(body)
		if err != nil {
			return nil, false, protocolError(CodeInvalidEncryption, strings.TrimPrefix(err.Error(), "jose: invalid encrypted message: "))
		}
		return plain, true, nil
	}
	if !strings.HasPrefix(contentType, "application/json") {
		return nil, false, protocolError(CodeInvalidCredentialRequest, "the body must be application/json, or application/jwt when encrypted")
	}
	return body, false, nil
}

// MarshalJSON writes the response's members.
func (r Response) MarshalJSON() ([]byte, error) {
	if r.TransactionID != "" {
		return json.Marshal(map[string]any{"transaction_id": r.TransactionID, "interval": r.Interval})
	}
	cs := make([]map[string]string, len(r.Credentials))
	for i, c := range r.Credentials {
		cs[i] = map[string]string{"credential": c}
	}
	return json.Marshal(map[string]any{"credentials": cs, "notification_id": r.NotificationID})
}

// CredentialRequest is the body of a credential request (§8.2).
type CredentialRequest struct {
	ConfigurationID string          `json:"credential_configuration_id"`
	Identifier      string          `json:"credential_identifier"`
	Proofs          json.RawMessage `json:"proofs"`
	Proof           json.RawMessage `json:"proof"`
	Encryption      json.RawMessage `json:"credential_response_encryption"`
}

// MaxRequest bounds a credential request's body.
const MaxRequest = 128 << 10

// proofWindow is how old a key proof's iat may be; proofSkew how far in
// the future.
const (
	proofWindow = 5 * time.Minute
	proofSkew   = time.Minute
)

// holder is a verified key proof: the key the credential is bound to.
type holder struct {
	JWK json.RawMessage
	JKT string
}

// Credential serves a credential request (§8) for the access a.
func (s *Service) Credential(ctx context.Context, a Access, body []byte, encrypted bool) (Response, error) {
	req, perr := s.parseRequest(a, body)
	if perr != nil {
		return Response{}, perr
	}
	enc, perr := s.encryption(req.Encryption, encrypted)
	if perr != nil {
		return Response{}, perr
	}
	t := s.types[a.TypeID]
	c, err := s.cfg.Store.Credential(ctx, a.CredentialID)
	if err != nil {
		return Response{}, err
	}
	switch {
	case c.State == StatePending || c.State == StateApproved:
		return Response{}, protocolError(CodeInvalidCredentialRequest, "this issuance is deferred: use the deferred credential endpoint")
	case c.State == StateRejected || c.Status == statuslist.Invalid:
		return Response{}, protocolError(CodeDenied, "the agency has withdrawn this credential")
	}
	now := s.Now()
	holders, spent, nonceExp, perr := s.checkProofs(req.Proofs, a, now)
	if perr != nil {
		return Response{}, perr
	}
	if t.Approval {
		return encrypt(s.deferRequest(ctx, c, t, holders, spent, nonceExp))(enc)
	}
	creds, err := s.issue(ctx, c, t, holders, func(is *Issue) { is.Nonces, is.NonceExpiry = spent, nonceExp })
	if errors.Is(err, ErrNonceUsed) {
		return Response{}, protocolError(CodeInvalidNonce, "the c_nonce has been used: get a fresh one from the nonce endpoint")
	}
	if err != nil {
		return Response{}, err
	}
	return encrypt(Response{Status: http.StatusOK, Credentials: creds, NotificationID: c.ID}, nil)(enc)
}

// encrypt marks a response for encryption to re, when there is one.
func encrypt(r Response, err error) func(*ResponseEncryption) (Response, error) {
	return func(re *ResponseEncryption) (Response, error) {
		if err == nil && re != nil {
			r.EncryptTo, r.Enc = re.JWK, re.Enc
		}
		return r, err
	}
}

// parseRequest reads a credential request and checks it against what
// the access token allows.
func (s *Service) parseRequest(a Access, body []byte) (CredentialRequest, *Error) {
	var req CredentialRequest
	if len(body) > MaxRequest {
		return req, protocolError(CodeInvalidCredentialRequest, "the request is too large")
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return req, protocolError(CodeInvalidCredentialRequest, "the body is not a JSON object of the credential request")
	}
	switch {
	case req.ConfigurationID != "" && req.Identifier != "":
		return req, protocolError(CodeInvalidCredentialRequest, "credential_configuration_id and credential_identifier exclude each other")
	case a.ByIdentifier && req.Identifier == "":
		return req, protocolError(CodeInvalidCredentialRequest, "the token response gave credential identifiers: send credential_identifier")
	case !a.ByIdentifier && req.Identifier != "":
		return req, protocolError(CodeUnknownIdentifier, "this access token was given no credential identifiers")
	case a.ByIdentifier && req.Identifier != a.TypeID:
		return req, protocolError(CodeUnknownIdentifier, "credential_identifier is not one this access token allows")
	case !a.ByIdentifier && req.ConfigurationID == "":
		return req, protocolError(CodeInvalidCredentialRequest, "credential_configuration_id is required")
	case !a.ByIdentifier && req.ConfigurationID != a.TypeID:
		if _, ok := s.types[req.ConfigurationID]; !ok {
			return req, protocolError(CodeUnknownConfiguration, "no credential configuration of that id")
		}
		return req, &Error{Code: "insufficient_scope", Status: http.StatusForbidden,
			Description: "the access token does not allow this credential configuration"}
	case len(req.Proof) > 0 && string(req.Proof) != "null":
		return req, protocolError(CodeInvalidCredentialRequest, `"proof" is not a parameter of OpenID4VCI 1.0: send "proofs"`)
	}
	return req, nil
}

// checkProofs verifies the jwt key proofs of a request (§8.2.1, Appendix
// F.1): one to BatchSize of them, each of its own key, each with this
// issuer as aud, a recent iat and a c_nonce of this issuer. It returns
// the holders and the hashes of the nonces to spend.
func (s *Service) checkProofs(raw json.RawMessage, a Access, now time.Time) ([]holder, [][]byte, time.Time, *Error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil, time.Time{}, protocolError(CodeInvalidProof, "proofs is required")
	}
	var proofs map[string]json.RawMessage
	if err := json.Unmarshal(raw, &proofs); err != nil || len(proofs) != 1 {
		return nil, nil, time.Time{}, protocolError(CodeInvalidProof, "proofs must be an object with exactly one proof type")
	}
	list, ok := proofs["jwt"]
	if !ok {
		return nil, nil, time.Time{}, protocolError(CodeInvalidProof, "the only proof type supported is jwt")
	}
	var jwts []string
	if err := json.Unmarshal(list, &jwts); err != nil || len(jwts) == 0 {
		return nil, nil, time.Time{}, protocolError(CodeInvalidProof, "proofs.jwt must be a non-empty array of JWTs")
	}
	if len(jwts) > s.cfg.BatchSize {
		return nil, nil, time.Time{}, protocolError(CodeInvalidCredentialRequest, fmt.Sprintf("at most %d proofs in one request (batch_size)", s.cfg.BatchSize))
	}
	var hs []holder
	var spent [][]byte
	var nonceExp time.Time
	for i, p := range jwts {
		h, nonceHash, exp, perr := s.checkProof(p, a, now)
		if perr != nil {
			if len(jwts) > 1 {
				perr.Description = fmt.Sprintf("proof %d: %s", i+1, perr.Description)
			}
			return nil, nil, time.Time{}, perr
		}
		if slices.ContainsFunc(hs, func(o holder) bool { return o.JKT == h.JKT }) {
			return nil, nil, time.Time{}, protocolError(CodeInvalidProof, fmt.Sprintf("proof %d: its key is bound to another credential of this batch", i+1))
		}
		hs = append(hs, h)
		if !slices.ContainsFunc(spent, func(b []byte) bool { return string(b) == string(nonceHash) }) {
			spent = append(spent, nonceHash)
		}
		if exp.After(nonceExp) {
			nonceExp = exp
		}
	}
	return hs, spent, nonceExp, nil
}

// proofClaims are the claims of a jwt key proof.
type proofClaims struct {
	Iss   *string         `json:"iss"`
	Aud   json.RawMessage `json:"aud"`
	Iat   *float64        `json:"iat"`
	Nonce *string         `json:"nonce"`
}

// ProofAlgs are the algorithms accepted in key proofs.
var ProofAlgs = []string{"ES256"}

// checkProof verifies one key proof.
func (s *Service) checkProof(p string, a Access, now time.Time) (holder, []byte, time.Time, *Error) {
	kp, err := jose.ParseKeyProof([]byte(p), ProofType, ProofAlgs...)
	if err != nil {
		return holder{}, nil, time.Time{}, protocolError(CodeInvalidProof, strings.TrimPrefix(err.Error(), "jose: invalid key proof: "))
	}
	var cl proofClaims
	if err := json.Unmarshal(kp.Payload, &cl); err != nil {
		return holder{}, nil, time.Time{}, protocolError(CodeInvalidProof, "the claims are not a JSON object")
	}
	var aud string
	if json.Unmarshal(cl.Aud, &aud) != nil || aud != s.cfg.Issuer {
		return holder{}, nil, time.Time{}, protocolError(CodeInvalidProof, "aud must be the credential issuer identifier")
	}
	switch {
	case cl.Iss != nil && a.ClientID == "":
		return holder{}, nil, time.Time{}, protocolError(CodeInvalidProof, "iss must be omitted: the access token was obtained anonymously")
	case cl.Iss != nil && *cl.Iss != a.ClientID:
		return holder{}, nil, time.Time{}, protocolError(CodeInvalidProof, "iss must be the client_id of the wallet")
	case cl.Iat == nil:
		return holder{}, nil, time.Time{}, protocolError(CodeInvalidProof, "iat is required")
	}
	iat := time.Unix(int64(*cl.Iat), 0)
	if iat.Before(now.Add(-proofWindow)) || iat.After(now.Add(proofSkew)) {
		return holder{}, nil, time.Time{}, protocolError(CodeInvalidProof, "iat is not recent")
	}
	if cl.Nonce == nil || *cl.Nonce == "" {
		return holder{}, nil, time.Time{}, protocolError(CodeInvalidProof, "nonce is required: get a c_nonce from the nonce endpoint")
	}
	hash, exp, err := s.nonces.check(*cl.Nonce, now)
	if err != nil {
		return holder{}, nil, time.Time{}, protocolError(CodeInvalidNonce, "the c_nonce is "+err.Error()+": get a fresh one from the nonce endpoint")
	}
	return holder{JWK: kp.JWK, JKT: kp.JKT}, hash, exp, nil
}

// issue makes one credential for each holder, records them with their
// places and entries, and returns them. It reads the citizen's claims
// only after the ledger allowed it.
func (s *Service) issue(ctx context.Context, c Credential, t credential.Type, holders []holder, more func(*Issue)) ([]string, error) {
	actor := audit.Actor{Kind: audit.ActorCitizen, ID: s.pseudonym(c.CitizenID)}
	decision, err := s.decide(ctx, c.ClientID, c.CitizenID, t, ActionIssue, actor)
	if err != nil {
		return nil, err
	}
	claims, err := s.claims(ctx, c, t)
	if err != nil {
		return nil, err
	}
	key, err := s.cfg.Keys.Active(ctx, IssuerRing, keys.ES256)
	if err != nil {
		return nil, fmt.Errorf("vci: issuer key: %w", err)
	}
	places, err := s.places.take(ctx, len(holders))
	if err != nil {
		return nil, err
	}
	now := s.Now()
	out := make([]string, len(holders))
	var exp time.Time
	for i, h := range holders {
		cred, _, err := credential.Issue(ctx, key, credential.Request{Issuer: s.cfg.Issuer, Type: t, Integrity: s.integ[t.ID],
			Claims: claims, Holder: h.JWK, Now: now, X5C: s.x5c(key),
			Status: &statuslist.Reference{Index: places[i].Index, URI: s.cfg.StatusListURI(places[i].List)}})
		if err != nil {
			return nil, err
		}
		out[i] = cred
		exp = now.UTC().Truncate(time.Hour).Add(t.Lifetime)
	}
	is := Issue{CredentialID: c.ID, Places: places, Expires: exp, Now: now,
		Entries: []audit.Entry{decision, s.entry(ctx, ActionIssue, actor, c.CitizenID, t, audit.Allowed)}}
	if more != nil {
		more(&is)
	}
	if err := s.cfg.Store.Issue(ctx, is); err != nil {
		return nil, err
	}
	return out, nil
}

// claims reads the citizen's claims from the type's source.
func (s *Service) claims(ctx context.Context, c Credential, t credential.Type) (map[string]any, error) {
	citizen, err := s.cfg.Citizens.Citizen(ctx, c.CitizenID)
	if err != nil {
		return nil, err
	}
	sub, err := s.cfg.Citizens.Subject(ctx, c.ClientID, c.CitizenID)
	if err != nil {
		return nil, err
	}
	claims, err := s.source(t).Claims(ctx, SourceRequest{TypeID: t.ID, CitizenID: c.CitizenID, Subject: sub, Citizen: citizen, Now: s.Now()})
	if err != nil {
		return nil, err
	}
	for _, cl := range t.Claims {
		if cl.Mandatory && len(cl.Path) == 1 {
			if name, _ := cl.Path[0].(string); claims[name] == nil {
				return nil, fmt.Errorf("%w: the record lacks the mandatory claim %q", ErrSourceFailed, name)
			}
		}
	}
	return claims, nil
}

// deferRequest records a request of a type that needs an officer's
// approval and answers its transaction (§8.3: 202).
func (s *Service) deferRequest(ctx context.Context, c Credential, t credential.Type, holders []holder, spent [][]byte, nonceExp time.Time) (Response, error) {
	if c.State != StateRedeemed && c.State != StateOffered {
		return Response{}, protocolError(CodeInvalidCredentialRequest, "this issuance has been requested already")
	}
	jwks := make([]json.RawMessage, len(holders))
	for i, h := range holders {
		jwks[i] = h.JWK
	}
	keysJSON, _ := json.Marshal(jwks)
	txn := random.Token(24)
	actor := audit.Actor{Kind: audit.ActorCitizen, ID: s.pseudonym(c.CitizenID)}
	err := s.cfg.Store.Defer(ctx, c.ID, keysJSON, codeHash(txn), spent, nonceExp, s.entry(ctx, ActionIssue, actor, c.CitizenID, t, audit.Allowed))
	if errors.Is(err, ErrNonceUsed) {
		return Response{}, protocolError(CodeInvalidNonce, "the c_nonce has been used: get a fresh one from the nonce endpoint")
	}
	if err != nil {
		return Response{}, err
	}
	return Response{Status: http.StatusAccepted, TransactionID: txn, Interval: DeferredInterval}, nil
}

// DeferredInterval is the interval (seconds) a wallet waits between two
// deferred credential requests.
const DeferredInterval = 60
