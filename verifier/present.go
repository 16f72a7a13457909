package verifier

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/dcql"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/keys/dek"
	"github.com/cedula/cedula/internal/sdjwtvc"
)

// algs are the algorithms sdjwtvc accepts for issuers' signatures and
// key bindings, as the verifier's metadata names them.
var algs = []string{"ES256", "ES384", "EdDSA"}

// MaxWalletMetadata bounds the wallet_metadata a wallet posts.
const MaxWalletMetadata = 16 << 10

// RequestObject is a request's signed request object (§5, RFC 9101),
// with walletNonce when the wallet fetched it by POST and sent one. The
// wallet's metadata, when sent, must take what this verifier sends.
func (s *Service) RequestObject(ctx context.Context, id, walletNonce string, walletMetadata []byte) (string, error) {
	r, err := s.cfg.Store.Request(ctx, id)
	if err != nil {
		return "", err
	}
	if r = s.expired(r); !r.Status.open() {
		return "", fmt.Errorf("%w: the request is %s", ErrClosed, r.Status)
	}
	if len(walletNonce) > 512 || !urlSafe(walletNonce) {
		return "", invalid("wallet_nonce has characters §5.2 does not allow, or is too long")
	}
	if len(walletMetadata) > 0 {
		if err := checkWalletMetadata(walletMetadata); err != nil {
			return "", err
		}
	}
	now := s.cfg.Now()
	md := map[string]any{
		"client_name": s.cfg.Name,
		"vp_formats_supported": map[string]any{FormatSDJWT: map[string]any{
			"sd-jwt_alg_values": algs, "kb-jwt_alg_values": algs}},
	}
	if r.ResponseMode == ModeDirectPostJWT {
		enc, err := s.responseKey(r.ID)
		if err != nil {
			return "", err
		}
		md["jwks"] = map[string]any{"keys": []json.RawMessage{enc.PublicJWK()}}
		md["encrypted_response_enc_values_supported"] = jose.EncAlgs
	}
	claims := map[string]any{
		"iss": s.cfg.ClientID, "aud": "https://self-issued.me/v2", "iat": now.Unix(), "exp": r.Expires.Unix(),
		"client_id": s.cfg.ClientID, "response_type": "vp_token", "response_mode": r.ResponseMode,
		"response_uri": s.responseURI(r.ID), "nonce": r.Nonce, "state": r.State,
		"dcql_query": r.DCQL, "client_metadata": md,
		// Cedula's wallet shows the purpose and records the citizen's
		// consent to it; other wallets ignore it.
		"purpose": r.Purpose,
	}
	if walletNonce != "" {
		claims["wallet_nonce"] = walletNonce
	}
	obj, err := s.sign(ctx, claims)
	if err != nil {
		return "", err
	}
	if err := s.cfg.Store.MarkFetched(ctx, r.ID); err != nil {
		return "", err
	}
	return obj, nil
}

// sign makes the request object: signed with the verifier's key and its
// x5c chain (x509_san_dns), or unsecured for a verifier known by its
// redirect_uri, whose requests cannot be signed (§5.9.3).
func (s *Service) sign(ctx context.Context, claims map[string]any) (string, error) {
	hdr := map[string]any{"typ": "oauth-authz-req+jwt"}
	if s.host == "" {
		return jose.Unsecured(claims, hdr)
	}
	key, err := s.cfg.Keys.Active(ctx, Ring, keys.ES256)
	if err != nil {
		return "", fmt.Errorf("verifier: signing key: %w", err)
	}
	chain, err := s.chain(ctx, key)
	if err != nil {
		return "", err
	}
	hdr["x5c"] = jose.CertChain(chain)
	return jose.SignJSON(ctx, key, claims, hdr)
}

// chain is the certificate chain for key, checked: its leaf names the
// client identifier's host and certifies key.
func (s *Service) chain(ctx context.Context, key keys.Key) ([][]byte, error) {
	chain, err := s.cfg.Chain(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("verifier: certificate chain: %w", err)
	}
	if len(chain) == 0 {
		return nil, errors.New("verifier: no certificate for the signing key")
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, fmt.Errorf("verifier: certificate: %w", err)
	}
	if !slices.Contains(leaf.DNSNames, s.host) {
		return nil, fmt.Errorf("verifier: the certificate does not name %q among its DNS names", s.host)
	}
	if pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(key.Public()) {
		return nil, errors.New("verifier: the certificate does not certify the active signing key")
	}
	return chain, nil
}

// urlSafe reports whether v has only the characters §5.2 allows in
// nonces.
func urlSafe(v string) bool {
	for _, c := range v {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '~' || c == '-') {
			return false
		}
	}
	return true
}

// checkWalletMetadata checks what a wallet says it takes (§10): a JSON
// object; when it names the formats, response modes or request object
// algorithms it supports, this verifier's must be among them.
func checkWalletMetadata(b []byte) error {
	if len(b) > MaxWalletMetadata {
		return invalid("wallet_metadata is longer than %d bytes", MaxWalletMetadata)
	}
	var md struct {
		Formats    map[string]json.RawMessage `json:"vp_formats_supported"`
		Algs       []string                   `json:"request_object_signing_alg_values_supported"`
		ModesTaken []string                   `json:"response_modes_supported"`
	}
	if err := json.Unmarshal(b, &md); err != nil {
		return invalid("wallet_metadata is not a JSON object")
	}
	if md.Formats != nil {
		if _, ok := md.Formats[FormatSDJWT]; !ok {
			return fmt.Errorf("%w: the wallet does not take %s credentials", ErrWalletUnsupported, FormatSDJWT)
		}
	}
	if md.Algs != nil && !slices.Contains(md.Algs, string(keys.ES256)) {
		return fmt.Errorf("%w: the wallet does not take request objects signed with ES256", ErrWalletUnsupported)
	}
	return nil
}

// responseKey is a request's own key for direct_post.jwt answers,
// derived from the secret and the request ID (every replica has it; it
// is never stored).
func (s *Service) responseKey(id string) (*jose.DecryptionKey, error) {
	return jose.DeriveDecryptionKey(s.cfg.Secret, "verifier-response/"+id)
}

// WalletError is an answer's refusal as the wallet gets it (OAuth error
// code and description).
type WalletError struct {
	Code        string
	Description string
}

func (e *WalletError) Error() string { return "verifier: " + e.Code + ": " + e.Description }

func walletError(format string, args ...any) *WalletError {
	return &WalletError{Code: "invalid_request", Description: fmt.Sprintf(format, args...)}
}

// answer is an authorization response's parameters.
type answer struct {
	VPToken     json.RawMessage `json:"vp_token"`
	State       string          `json:"state"`
	Error       string          `json:"error"`
	Description string          `json:"error_description"`
}

// Respond takes a wallet's answer to request id, posted to its response
// URI (§8.2): the form of direct_post, or the `response` JWE of
// direct_post.jwt. It returns a *WalletError for an answer that is
// refused (the request then records why, unless the answer was not for
// it); nil when the answer was taken, verified or declined.
func (s *Service) Respond(ctx context.Context, id string, form url.Values) error {
	r, err := s.cfg.Store.Request(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return walletError("no request is waiting at this response URI")
	} else if err != nil {
		return err
	}
	a, err := s.readAnswer(r, form)
	if err != nil {
		return err
	}
	if a.State != r.State {
		return walletError("state does not match the request's")
	}
	now := s.cfg.Now().UTC()
	if r = s.expired(r); !r.Status.open() {
		reason := ReasonExpired
		switch r.Status {
		case StatusCancelled:
			reason = ReasonCancelled
		case StatusVerified, StatusFailed, StatusDeclined:
			reason = "replayed"
		}
		f := &Failure{Reason: reason, Detail: "the request was " + string(r.Status) + " when the answer came"}
		if _, err := s.cfg.Audit.Append(ctx, s.presentEntry(ctx, r, now, "", f)); err != nil {
			return err
		}
		return walletError("the request is %s", r.Status)
	}
	if a.Error != "" {
		f := &Failure{Reason: ReasonDeclined, Detail: "the wallet answered " + clip(a.Error)}
		if err := s.finish(ctx, r, StatusDeclined, f, nil, nil, now, s.presentEntry(ctx, r, now, "", f)); err != nil {
			return err
		}
		return nil
	}
	res, subject, entries, f, err := s.verify(ctx, r, a.VPToken, now)
	if err != nil {
		return err
	}
	if f != nil {
		entries = append(entries, s.presentEntry(ctx, r, now, subject, f))
		if err := s.finish(ctx, r, StatusFailed, f, nil, nil, now, entries...); err != nil {
			return err
		}
		return &WalletError{Code: "invalid_request", Description: f.Reason + ": " + f.Detail}
	}
	plain, err := json.Marshal(res)
	if err != nil {
		return err
	}
	sealed, err := dek.Seal(s.sealKey, plain, []byte(r.ID))
	if err != nil {
		return err
	}
	e := s.presentEntry(ctx, r, now, subject, nil)
	e.Purpose, e.LegalBasis, e.ConsentRecord = res.Purpose, res.LegalBasis, res.ConsentRecord
	return s.finish(ctx, r, StatusVerified, nil, res, sealed, now, append(entries, e)...)
}

// finish ends r, queueing its agency's notice; a request another answer
// ended first refuses this one.
func (s *Service) finish(ctx context.Context, r Request, st Status, f *Failure, res *Result, sealed []byte, now time.Time, entries ...audit.Entry) error {
	notice, err := s.outbox(ctx, r, st, f, res, now, now)
	if err != nil {
		return err
	}
	err = s.cfg.Store.Finish(ctx, r.ID, st, f, sealed, now, notice, entries...)
	if errors.Is(err, ErrClosed) {
		return walletError("the request was answered already")
	}
	if err == nil && notice != nil {
		s.wake()
	}
	return err
}

func clip(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	if !urlSafe(s) {
		return "an error"
	}
	return s
}

// readAnswer reads the answer's parameters, decrypting a direct_post.jwt
// response with the request's key.
func (s *Service) readAnswer(r Request, form url.Values) (answer, error) {
	var a answer
	if r.ResponseMode == ModeDirectPostJWT {
		jwe := form.Get("response")
		if jwe == "" {
			return a, walletError("this request is answered with response_mode direct_post.jwt: a response parameter is required")
		}
		k, err := s.responseKey(r.ID)
		if err != nil {
			return a, err
		}
		plain, err := k.Decrypt([]byte(jwe))
		if err != nil {
			return a, walletError("the response does not decrypt with the request's key")
		}
		if err := json.Unmarshal(plain, &a); err != nil {
			return a, walletError("the decrypted response is not a JSON object of response parameters")
		}
		return a, nil
	}
	a.State, a.Error, a.Description = form.Get("state"), form.Get("error"), form.Get("error_description")
	if v := form.Get("vp_token"); v != "" {
		a.VPToken = json.RawMessage(v)
	}
	return a, nil
}

// verify checks a vp_token against r: each presentation, the query,
// the holder and the ledger. It returns the result, the holder's
// pseudonym, the entries to append with the outcome (the ledger's
// decision), or the failure.
func (s *Service) verify(ctx context.Context, r Request, token json.RawMessage, now time.Time) (*Result, string, []audit.Entry, *Failure, error) {
	fail := func(reason, format string, args ...any) (*Result, string, []audit.Entry, *Failure, error) {
		return nil, "", nil, &Failure{Reason: reason, Detail: fmt.Sprintf(format, args...)}, nil
	}
	var vp map[string][]string
	if len(token) == 0 {
		return fail(ReasonMalformed, "the answer has no vp_token")
	}
	if err := json.Unmarshal(token, &vp); err != nil || len(vp) == 0 {
		return fail(ReasonMalformed, "vp_token is not a JSON object of arrays of presentations")
	}
	q, err := dcql.Parse(r.DCQL)
	if err != nil {
		return nil, "", nil, nil, fmt.Errorf("verifier: stored query of %s: %w", r.ID, err)
	}
	presented := map[string][]dcql.Presented{}
	verified := map[string][]*sdjwtvc.Credential{}
	trusted := func(iss, vct string) bool { return slices.Contains(s.trust[iss], vct) }
	total := 0
	for qid, list := range vp {
		for _, pres := range list {
			if total++; total > 64 {
				return fail(ReasonMalformed, "vp_token carries more than 64 presentations")
			}
			c, err := s.cfg.Resolver.Verify(ctx, pres, sdjwtvc.Options{Audience: s.cfg.ClientID, Nonce: r.Nonce, Now: now,
				KBMaxAge: KBMaxAge, Trusted: trusted, CheckTypeMetadata: true})
			var vf *sdjwtvc.Failure
			if errors.As(err, &vf) {
				return fail(string(vf.Reason), "query %s: %s", clipID(qid), vf.Detail)
			} else if err != nil {
				return nil, "", nil, nil, err
			}
			presented[qid] = append(presented[qid], dcql.Presented{Format: FormatSDJWT, VCT: c.VCT, Claims: c.Claims})
			verified[qid] = append(verified[qid], c)
		}
	}
	asked, err := q.Check(presented)
	if err != nil {
		return fail(ReasonNotAnswered, "%v", err)
	}
	citizen, holderKey, err := s.holder(ctx, verified)
	if errors.Is(err, errHolders) {
		return fail(ReasonHolders, "the credentials presented are not all the same citizen's")
	} else if err != nil {
		return nil, "", nil, nil, err
	}
	p, err := s.cfg.Ledger.Purpose(ctx, r.Purpose)
	if err != nil {
		return nil, "", nil, nil, err
	}
	res := &Result{Purpose: r.Purpose, LegalBasis: string(p.LegalBasis)}
	var entries []audit.Entry
	subject := s.cfg.Pseudonym(citizen)
	if citizen == "" {
		// A holder Cedula did not issue to: no ledger record can be
		// asked about; a purpose resting on consent cannot be shown to
		// hold.
		subject = s.cfg.Pseudonym("holder:" + holderKey)
		if p.LegalBasis == consent.Consent {
			return nil, subject, nil, &Failure{Reason: ReasonDenied,
				Detail: "the purpose rests on consent, and the holder of credentials Cedula did not issue cannot be asked about in the ledger"}, nil
		}
	} else {
		d, e, err := s.cfg.Ledger.DecideEntry(ctx, consent.Query{Subject: citizen, Controller: r.ClientID, Purpose: r.Purpose, Categories: r.Categories})
		if err != nil {
			return nil, "", nil, nil, err
		}
		entries = append(entries, e)
		if !d.Allow {
			return nil, subject, entries, &Failure{Reason: ReasonDenied, Detail: "the consent ledger does not allow this purpose for the citizen (" + string(d.Reason) + ")"}, nil
		}
		res.ConsentRecord = d.Record.String()
	}
	for _, qid := range sortedKeys(asked) {
		for i, claims := range asked[qid] {
			c := verified[qid][i]
			out := Presented{QueryID: qid, VCT: c.VCT, Issuer: c.Issuer, Status: "unlisted", Claims: claims}
			if c.Status != nil {
				out.Status = "valid"
				t := c.StatusCheckedAt.UTC()
				out.StatusCheckedAt = &t
			}
			if !c.ExpiresAt.IsZero() {
				t := c.ExpiresAt.UTC()
				out.ExpiresAt = &t
			}
			res.Credentials = append(res.Credentials, out)
		}
	}
	return res, subject, entries, nil, nil
}

func clipID(id string) string {
	if len(id) > 64 || !urlSafe(id) {
		return "(an unknown id)"
	}
	return id
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

var errHolders = errors.New("verifier: credentials of several holders")

// holder returns the citizen who holds the presented credentials, when
// Cedula's issuer issued them ("" otherwise), and a holder key's
// thumbprint.
func (s *Service) holder(ctx context.Context, verified map[string][]*sdjwtvc.Credential) (string, string, error) {
	citizen, key := "", ""
	for _, qid := range sortedKeys(verified) {
		for _, c := range verified[qid] {
			if key == "" {
				key = c.HolderJKT
			}
			if c.Status == nil {
				continue
			}
			id, err := s.cfg.Holders.Holder(ctx, c.Issuer, *c.Status)
			if errors.Is(err, ErrUnknownHolder) {
				continue
			} else if err != nil {
				return "", "", err
			}
			if citizen != "" && id != citizen {
				return "", "", errHolders
			}
			citizen = id
		}
	}
	return citizen, key, nil
}

// presentEntry is the audit entry of an answer to r: ActionPresent when
// verified (f nil), ActionPresent + "." + reason otherwise.
func (s *Service) presentEntry(ctx context.Context, r Request, now time.Time, subject string, f *Failure) audit.Entry {
	e := audit.Entry{Time: now, Actor: audit.Actor{Kind: audit.ActorClient, ID: r.ClientID}, Action: ActionPresent,
		Subject: subject, Categories: r.Categories, Outcome: audit.Allowed, RequestID: audit.RequestIDFrom(ctx)}
	if f != nil {
		e.Action = ActionPresent + "." + f.Reason
		e.Outcome = audit.Failed
		if f.Reason == ReasonDenied || f.Reason == ReasonDeclined {
			e.Outcome = audit.Denied
		}
	}
	return e
}
