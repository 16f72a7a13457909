package wallet

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/random"
)

// Device-bound keys: the phone's secure element holds the holder keys.
// Accepting an offer then takes two calls. BeginDeviceAccept redeems the
// offer and returns, for each key proof, the JWS signing input (its
// protected header, with the phone's public key as jwk, and its payload,
// base64url, joined by a dot) for the phone to sign with ES256;
// FinishDeviceAccept takes the signatures, checks each against its key,
// sends the proofs and stores the credentials — with no private key, as
// the wallet never had one. In between, the pending acceptance (the access
// token at the issuer, its DPoP key, the proofs' inputs) is kept sealed
// under the citizen's data key for PendingTTL, and taken once.

// PendingTTL is how long a device-bound acceptance waits for its
// signatures.
const PendingTTL = 5 * time.Minute

// SigningInput is one thing the phone must sign.
type SigningInput struct {
	ConfigurationID string
	// Key is the index, in Accept.DeviceKeys, of the key to sign with.
	Key int
	Alg string // ES256
	// Input is the JWS signing input: ASCII of base64url(header) "."
	// base64url(payload). The phone signs it as is and answers the
	// base64url of the signature (R || S, 64 bytes for ES256).
	Input string
}

// Pending is a device-bound acceptance waiting for its signatures.
type Pending struct {
	ID            string
	Expires       time.Time
	SigningInputs []SigningInput
}

// PendingRecord is a pending acceptance as stored: sealed but for its
// owner, ID and expiry.
type PendingRecord struct {
	ID        string
	CitizenID string
	Expires   time.Time
	Sealed    []byte
}

// PendingStore keeps pending acceptances.
type PendingStore interface {
	PutPending(ctx context.Context, r PendingRecord) error
	// TakePending returns the citizen's pending record and deletes it, so
	// that it is used once; ErrNotFound when there is none (another
	// citizen's, taken already, or expired).
	TakePending(ctx context.Context, citizenID, id string, now time.Time) (PendingRecord, error)
}

// pending is a pending record's sealed content.
type pending struct {
	Issuer     string              `json:"issuer"`
	Metadata   *IssuerMetadata     `json:"metadata"`
	Token      string              `json:"token"`
	TokenType  string              `json:"token_type"`
	Expires    time.Time           `json:"expires"`
	DPoPKey    json.RawMessage     `json:"dpop_key,omitempty"`
	DPoPNonce  string              `json:"dpop_nonce,omitempty"`
	IDs        map[string][]string `json:"identifiers,omitempty"`
	DeviceKeys []json.RawMessage   `json:"device_keys"`
	Items      []pendingItem       `json:"items"`
	// Refresh and TokenEndpoint renew the token for a deferred issuance.
	Refresh       string `json:"refresh,omitempty"`
	TokenEndpoint string `json:"token_endpoint,omitempty"`
	// Authorization, when set, makes this an acceptance waiting for the
	// citizen's login at the issuer (authcode.go), with no items yet.
	Authorization *authorizing `json:"authorization,omitempty"`
}

type pendingItem struct {
	ConfigurationID string   `json:"configuration_id"`
	Keys            []int    `json:"keys"`
	Inputs          []string `json:"inputs"`
}

// Pending IDs say what waits: the phone's signatures, or the citizen's
// login at the issuer.
const (
	pendingDevicePrefix = "wp-"
	pendingAuthPrefix   = "wa-"
)

func pendingLabel(id string) string { return "wallet/pending/" + id }

// BeginDeviceAccept redeems an offer for keys the phone holds: deviceKeys
// are their public JWKs (P-256), shared out in order between the offered
// configurations (so their number must be a multiple of the
// configurations', each share within the issuer's batch size).
func (s *Service) BeginDeviceAccept(ctx context.Context, citizenID string, a Accept, deviceKeys []json.RawMessage) (Pending, error) {
	if _, ok := s.cfg.Store.(PendingStore); !ok {
		return Pending{}, fail(ErrUnsupported, nil, "this wallet keeps no pending acceptances")
	}
	r, err := s.resolve(ctx, a.Offer)
	if err != nil {
		return Pending{}, err
	}
	if err := checkDeviceKeys(r, deviceKeys); err != nil {
		return Pending{}, err
	}
	sess, err := s.redeemOffer(ctx, r, a)
	if err != nil {
		return Pending{}, err
	}
	return s.pendDevice(ctx, citizenID, r, sess, deviceKeys)
}

// checkDeviceKeys holds the phone's keys to the offer: public P-256 keys,
// each given once, as many per configuration as the issuer's batch takes.
func checkDeviceKeys(r *resolved, deviceKeys []json.RawMessage) error {
	nc := len(r.offer.CredentialConfigurationIDs)
	if len(deviceKeys) == 0 || len(deviceKeys)%nc != 0 {
		return fail(ErrOffer, nil, "device_keys must hold a key per copy of each of the offer's %d credentials", nc)
	}
	share := len(deviceKeys) / nc
	if batch := r.md.BatchIssuance; share > 1 && (batch == nil || share > batch.BatchSize) {
		return fail(ErrOffer, nil, "the issuer takes fewer than %d keys for one credential", share)
	}
	seen := map[string]bool{}
	for i, k := range deviceKeys {
		if err := checkDeviceKey(k); err != nil {
			return fail(ErrOffer, err, "device key %d is not a public P-256 JWK", i)
		}
		tp, _ := jose.Thumbprint(k)
		if seen[tp] {
			return fail(ErrOffer, nil, "device key %d is given twice: each copy needs its own key", i)
		}
		seen[tp] = true
	}
	return nil
}

// pendDevice keeps, with an access token at the issuer, what the phone
// must sign for its keys (checked by checkDeviceKeys), and returns it.
func (s *Service) pendDevice(ctx context.Context, citizenID string, r *resolved, sess *session, deviceKeys []json.RawMessage) (Pending, error) {
	ps, ok := s.cfg.Store.(PendingStore)
	if !ok {
		return Pending{}, fail(ErrUnsupported, nil, "this wallet keeps no pending acceptances")
	}
	share := len(deviceKeys) / len(r.offer.CredentialConfigurationIDs)
	p := &pending{Issuer: r.offer.CredentialIssuer, Metadata: r.md, Token: sess.token, TokenType: sess.tokenType, Expires: sess.expires,
		DPoPNonce: sess.dpopNonce, IDs: sess.identifiers, DeviceKeys: deviceKeys, Refresh: sess.refresh, TokenEndpoint: sess.tokenEndpoint}
	var err error
	if sess.dpop != nil {
		if p.DPoPKey, err = sess.dpop.PrivateJWK(); err != nil {
			return Pending{}, err
		}
	}
	out := Pending{ID: pendingDevicePrefix + random.Token(16), Expires: s.cfg.Now().Add(PendingTTL)}
	for c, id := range r.offer.CredentialConfigurationIDs {
		nonce, err := s.fetchNonce(ctx, r.md)
		if err != nil {
			return Pending{}, err
		}
		item := pendingItem{ConfigurationID: id}
		for k := c * share; k < (c+1)*share; k++ {
			input, err := signingInput(deviceKeys[k], r.offer.CredentialIssuer, nonce, s.cfg.Now())
			if err != nil {
				return Pending{}, err
			}
			item.Keys, item.Inputs = append(item.Keys, k), append(item.Inputs, input)
			out.SigningInputs = append(out.SigningInputs, SigningInput{ConfigurationID: id, Key: k, Alg: string(keys.ES256), Input: input})
		}
		p.Items = append(p.Items, item)
	}
	if err := s.putPending(ctx, ps, citizenID, out.ID, out.Expires, p); err != nil {
		return Pending{}, err
	}
	return out, nil
}

// putPending keeps p, sealed, as the citizen's pending record id.
func (s *Service) putPending(ctx context.Context, ps PendingStore, citizenID, id string, expires time.Time, p *pending) error {
	sealed, err := s.sealJSON(ctx, citizenID, pendingLabel(id), p)
	if err != nil {
		return err
	}
	return ps.PutPending(ctx, PendingRecord{ID: id, CitizenID: citizenID, Expires: expires, Sealed: sealed})
}

// takePending takes one of the citizen's pending records and opens it
// into v.
func (s *Service) takePending(ctx context.Context, citizenID, id string, v any) error {
	ps, ok := s.cfg.Store.(PendingStore)
	if !ok {
		return fail(ErrUnsupported, nil, "this wallet keeps no pending acceptances")
	}
	rec, err := ps.TakePending(ctx, citizenID, id, s.cfg.Now())
	if err != nil {
		return err
	}
	return s.openJSON(ctx, citizenID, pendingLabel(rec.ID), rec.Sealed, "pending "+rec.ID, v)
}

// FinishDeviceAccept completes a pending acceptance with the phone's
// signatures, one per signing input, in their order.
func (s *Service) FinishDeviceAccept(ctx context.Context, citizenID, pendingID string, signatures []string, lang string) (Received, error) {
	if !strings.HasPrefix(pendingID, pendingDevicePrefix) {
		return Received{}, ErrNotFound // an authorization's (FinishAuthorization)
	}
	var p pending
	if err := s.takePending(ctx, citizenID, pendingID, &p); err != nil {
		return Received{}, err
	}
	total := 0
	for _, it := range p.Items {
		total += len(it.Inputs)
	}
	if len(signatures) != total {
		return Received{}, fail(ErrOffer, nil, "%d signatures for %d signing inputs; the acceptance is void, start again", len(signatures), total)
	}
	sess := &session{token: p.Token, tokenType: p.TokenType, expires: p.Expires, dpopNonce: p.DPoPNonce, identifiers: p.IDs,
		refresh: p.Refresh, tokenEndpoint: p.TokenEndpoint}
	if len(p.DPoPKey) > 0 {
		var err error
		if sess.dpop, err = jose.ParseClientKey(p.DPoPKey); err != nil {
			return Received{}, err
		}
	}
	// Every signature is checked before anything goes to the issuer.
	proofs := make([][]string, len(p.Items))
	n := 0
	for i, it := range p.Items {
		for j, input := range it.Inputs {
			proof := input + "." + signatures[n]
			kp, err := jose.ParseKeyProof([]byte(proof), ProofType, string(keys.ES256))
			want, _ := jose.Thumbprint(p.DeviceKeys[it.Keys[j]])
			if err != nil || kp.JKT != want {
				return Received{}, fail(ErrOffer, err, "signature %d does not verify with device key %d; the acceptance is void, start again", n, it.Keys[j])
			}
			proofs[i] = append(proofs[i], proof)
			n++
		}
	}
	var out Received
	for i, it := range p.Items {
		req := credentialRequest(sess, it.ConfigurationID)
		req["proofs"] = map[string]any{"jwt": proofs[i]}
		nonce := sess.dpopNonce
		ans, retry, err := s.requestCredentials(ctx, p.Metadata, sess, req)
		if retry && sess.dpopNonce != nonce {
			// A DPoP nonce asked for: the key proofs stand, the DPoP proof
			// is made again.
			ans, _, err = s.requestCredentials(ctx, p.Metadata, sess, req)
		}
		if err != nil {
			return out, err
		}
		holders := make([]json.RawMessage, 0, len(it.Keys))
		for _, k := range it.Keys {
			holders = append(holders, p.DeviceKeys[k])
		}
		if ans.transactionID != "" {
			d, err := s.deferIssuance(ctx, citizenID, p.Issuer, p.Metadata, it.ConfigurationID, KeyDevice, holders, sess, ans, lang)
			if err != nil {
				return out, err
			}
			out.Deferred = append(out.Deferred, d)
			continue
		}
		c, err := s.keepIssued(ctx, citizenID, p.Issuer, p.Metadata, it.ConfigurationID, KeyDevice, holders, ans, sess, lang)
		if err != nil {
			return out, err
		}
		out.Credentials = append(out.Credentials, c)
	}
	return out, nil
}

// checkDeviceKey accepts a public P-256 JWK.
func checkDeviceKey(k json.RawMessage) error {
	var f struct {
		Kty string `json:"kty"`
		Crv string `json:"crv"`
		D   string `json:"d"`
	}
	if err := json.Unmarshal(k, &f); err != nil {
		return err
	}
	if f.Kty != "EC" || f.Crv != "P-256" || f.D != "" {
		return errors.New("not a public P-256 key")
	}
	return jose.ValidPublicJWK(k)
}

// signingInput is the JWS signing input of a key proof for the device
// key k.
func signingInput(k json.RawMessage, aud, nonce string, now time.Time) (string, error) {
	claims := map[string]any{"aud": aud, "iat": now.Unix()}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	return jose.SigningInput(map[string]any{"alg": string(keys.ES256), "typ": ProofType, "jwk": k}, claims)
}
