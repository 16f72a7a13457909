package wallet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
}

type pendingItem struct {
	ConfigurationID string   `json:"configuration_id"`
	Keys            []int    `json:"keys"`
	Inputs          []string `json:"inputs"`
}

func pendingLabel(id string) string { return "wallet/pending/" + id }

// BeginDeviceAccept redeems an offer for keys the phone holds: deviceKeys
// are their public JWKs (P-256), shared out in order between the offered
// configurations (so their number must be a multiple of the
// configurations', each share within the issuer's batch size).
func (s *Service) BeginDeviceAccept(ctx context.Context, citizenID string, a Accept, deviceKeys []json.RawMessage) (Pending, error) {
	ps, ok := s.cfg.Store.(PendingStore)
	if !ok {
		return Pending{}, fail(ErrUnsupported, nil, "this wallet keeps no pending acceptances")
	}
	r, err := s.resolve(ctx, a.Offer)
	if err != nil {
		return Pending{}, err
	}
	nc := len(r.offer.CredentialConfigurationIDs)
	if len(deviceKeys) == 0 || len(deviceKeys)%nc != 0 {
		return Pending{}, fail(ErrOffer, nil, "device_keys must hold a key per copy of each of the offer's %d credentials", nc)
	}
	share := len(deviceKeys) / nc
	if batch := r.md.BatchIssuance; share > 1 && (batch == nil || share > batch.BatchSize) {
		return Pending{}, fail(ErrOffer, nil, "the issuer takes fewer than %d keys for one credential", share)
	}
	seen := map[string]bool{}
	for i, k := range deviceKeys {
		if err := checkDeviceKey(k); err != nil {
			return Pending{}, fail(ErrOffer, err, "device key %d is not a public P-256 JWK", i)
		}
		tp, _ := jose.Thumbprint(k)
		if seen[tp] {
			return Pending{}, fail(ErrOffer, nil, "device key %d is given twice: each copy needs its own key", i)
		}
		seen[tp] = true
	}
	sess, err := s.redeemOffer(ctx, r, a.TxCode)
	if err != nil {
		return Pending{}, err
	}
	p := &pending{Issuer: r.offer.CredentialIssuer, Metadata: r.md, Token: sess.token, TokenType: sess.tokenType, Expires: sess.expires,
		DPoPNonce: sess.dpopNonce, IDs: sess.identifiers, DeviceKeys: deviceKeys}
	if sess.dpop != nil {
		if p.DPoPKey, err = sess.dpop.PrivateJWK(); err != nil {
			return Pending{}, err
		}
	}
	out := Pending{ID: "wp-" + random.Token(16), Expires: s.cfg.Now().Add(PendingTTL)}
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
	b, err := json.Marshal(p)
	if err != nil {
		return Pending{}, err
	}
	sealed, err := s.cfg.Sealer.SealData(ctx, s.cfg.Subject(citizenID), pendingLabel(out.ID), b)
	if err != nil {
		return Pending{}, err
	}
	if err := ps.PutPending(ctx, PendingRecord{ID: out.ID, CitizenID: citizenID, Expires: out.Expires, Sealed: sealed}); err != nil {
		return Pending{}, err
	}
	return out, nil
}

// FinishDeviceAccept completes a pending acceptance with the phone's
// signatures, one per signing input, in their order.
func (s *Service) FinishDeviceAccept(ctx context.Context, citizenID, pendingID string, signatures []string, lang string) ([]Credential, error) {
	ps, ok := s.cfg.Store.(PendingStore)
	if !ok {
		return nil, fail(ErrUnsupported, nil, "this wallet keeps no pending acceptances")
	}
	rec, err := ps.TakePending(ctx, citizenID, pendingID, s.cfg.Now())
	if err != nil {
		return nil, err
	}
	b, err := s.cfg.Sealer.OpenData(ctx, s.cfg.Subject(citizenID), pendingLabel(rec.ID), rec.Sealed)
	if err != nil {
		return nil, fmt.Errorf("wallet: open pending %s: %w", rec.ID, err)
	}
	var p pending
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("wallet: open pending %s: %w", rec.ID, err)
	}
	total := 0
	for _, it := range p.Items {
		total += len(it.Inputs)
	}
	if len(signatures) != total {
		return nil, fail(ErrOffer, nil, "%d signatures for %d signing inputs; the acceptance is void, start again", len(signatures), total)
	}
	sess := &session{token: p.Token, tokenType: p.TokenType, expires: p.Expires, dpopNonce: p.DPoPNonce, identifiers: p.IDs}
	if len(p.DPoPKey) > 0 {
		if sess.dpop, err = jose.ParseClientKey(p.DPoPKey); err != nil {
			return nil, err
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
				return nil, fail(ErrOffer, err, "signature %d does not verify with device key %d; the acceptance is void, start again", n, it.Keys[j])
			}
			proofs[i] = append(proofs[i], proof)
			n++
		}
	}
	var out []Credential
	for i, it := range p.Items {
		conf := p.Metadata.Configurations[it.ConfigurationID]
		req := map[string]any{"credential_configuration_id": it.ConfigurationID}
		if ids := sess.identifiers[it.ConfigurationID]; len(ids) > 0 {
			req = map[string]any{"credential_identifier": ids[0]}
		}
		req["proofs"] = map[string]any{"jwt": proofs[i]}
		nonce := sess.dpopNonce
		creds, notificationID, retry, err := s.requestCredentials(ctx, p.Metadata, sess, req)
		if retry && sess.dpopNonce != nonce {
			// A DPoP nonce asked for: the key proofs stand, the DPoP proof
			// is made again.
			creds, notificationID, _, err = s.requestCredentials(ctx, p.Metadata, sess, req)
		}
		if err != nil {
			return out, err
		}
		if len(creds) != len(it.Keys) {
			return out, fail(ErrIssuer, nil, "the issuer answered %d credentials for %d key proofs", len(creds), len(it.Keys))
		}
		h := &held{Issuer: p.Issuer, ConfigurationID: it.ConfigurationID, Configuration: conf, IssuerDisplay: p.Metadata.Display, KeyMode: KeyDevice}
		for j, cred := range creds {
			jkt, _ := jose.Thumbprint(p.DeviceKeys[it.Keys[j]])
			if _, err := s.verifyCredential(ctx, cred, conf.VCT, jkt); err != nil {
				return out, fail(ErrIssuer, err, "the issuer's credential does not verify: %v", err)
			}
			h.Instances = append(h.Instances, instance{Credential: cred, DeviceKey: p.DeviceKeys[it.Keys[j]]})
		}
		c, err := s.store(ctx, citizenID, h, sess, p.Metadata, notificationID, lang)
		if err != nil {
			return out, err
		}
		out = append(out, c)
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
