package wallet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/random"
)

// Deferred issuance (OpenID4VCI 1.0 §9): an issuer that cannot issue at
// once answers the credential request with a transaction_id and an
// interval. The wallet keeps the transaction — with the access token, its
// DPoP key and the holder keys of the proofs, sealed under the citizen's
// data key — and asks the deferred credential endpoint again once the
// interval has passed: when the citizen asks (CollectDeferred) or from the
// server's housekeeping (PollDeferred). The credentials, when they come,
// are checked against the holder keys and stored like any others; a
// transaction the issuer no longer knows or denies is dropped.

// DeferredTTL is how long the wallet keeps asking for a deferred
// credential.
const DeferredTTL = 30 * 24 * time.Hour

// deferredLease is how long one poll holds a transaction before another
// (in any replica) may take it.
const deferredLease = time.Minute

// Bounds of the interval between two polls, whatever the issuer says.
const (
	minInterval     = 5 * time.Second
	defaultInterval = time.Minute
)

// DeferredRecord is a deferred issuance as stored: sealed but for its
// owner, ID, when it is next due and when it expires.
type DeferredRecord struct {
	ID        string
	CitizenID string
	Due       time.Time
	Expires   time.Time
	Sealed    []byte
}

// DeferredStore keeps deferred issuances.
type DeferredStore interface {
	PutDeferred(ctx context.Context, r DeferredRecord) error
	// ListDeferred returns the citizen's records not expired at now,
	// oldest first.
	ListDeferred(ctx context.Context, citizenID string, now time.Time) ([]DeferredRecord, error)
	// ClaimDeferred returns one of the citizen's records not expired at
	// now (ErrNotFound otherwise, another citizen's too). When it is due
	// at now, its Due moves to until in the same statement and claimed is
	// true: of concurrent claims, in any replica, one wins.
	ClaimDeferred(ctx context.Context, citizenID, id string, now, until time.Time) (r DeferredRecord, claimed bool, err error)
	// UpdateDeferred sets a record's Due and Sealed.
	UpdateDeferred(ctx context.Context, r DeferredRecord) error
	// DeleteDeferred deletes one of the citizen's records; ErrNotFound
	// when there is none.
	DeleteDeferred(ctx context.Context, citizenID, id string) error
	// DueDeferred returns up to limit records due and not expired at now,
	// the longest due first.
	DueDeferred(ctx context.Context, now time.Time, limit int) ([]DeferredRecord, error)
}

// deferredState is a deferred record's sealed content.
type deferredState struct {
	Issuer          string            `json:"issuer"`
	Metadata        *IssuerMetadata   `json:"metadata"`
	ConfigurationID string            `json:"configuration_id"`
	TransactionID   string            `json:"transaction_id"`
	Token           string            `json:"token"`
	TokenType       string            `json:"token_type"`
	TokenExpires    time.Time         `json:"token_expires"`
	DPoPKey         []byte            `json:"dpop_key,omitempty"`
	DPoPNonce       string            `json:"dpop_nonce,omitempty"`
	Refresh         string            `json:"refresh,omitempty"`
	TokenEndpoint   string            `json:"token_endpoint,omitempty"`
	ClientID        string            `json:"client_id,omitempty"`
	KeyMode         KeyMode           `json:"key_mode"`
	Keys            []json.RawMessage `json:"keys"` // sealed: private JWKs; device: the phone's public JWKs
	Interval        int64             `json:"interval"`
	Created         time.Time         `json:"created"`
}

func deferredLabel(id string) string { return "wallet/deferred/" + id }

func (s *Service) deferredStore() (DeferredStore, error) {
	ds, ok := s.cfg.Store.(DeferredStore)
	if !ok {
		return nil, fail(ErrUnsupported, nil, "this wallet keeps no deferred issuances")
	}
	return ds, nil
}

// interval is how long to wait before asking again: the issuer's, within
// bounds.
func interval(seconds int64) time.Duration {
	switch {
	case seconds <= 0:
		return defaultInterval
	case time.Duration(seconds)*time.Second < minInterval:
		return minInterval
	case time.Duration(seconds)*time.Second > DeferredTTL:
		return DeferredTTL
	}
	return time.Duration(seconds) * time.Second
}

// deferIssuance keeps a transaction the issuer deferred, for holders (the
// keys of the request's proofs).
func (s *Service) deferIssuance(ctx context.Context, citizenID, issuer string, md *IssuerMetadata, configID string, mode KeyMode,
	holders []json.RawMessage, sess *session, ans credAnswer, lang string) (Deferred, error) {
	ds, err := s.deferredStore()
	if err != nil {
		return Deferred{}, err
	}
	now := s.cfg.Now().UTC().Truncate(time.Microsecond)
	st := &deferredState{Issuer: issuer, Metadata: md, ConfigurationID: configID, TransactionID: ans.transactionID, KeyMode: mode,
		Keys: holders, Interval: ans.interval, Created: now, ClientID: s.cfg.ClientID}
	if err := st.keepSession(sess); err != nil {
		return Deferred{}, err
	}
	rec := DeferredRecord{ID: "wd-" + random.Token(16), CitizenID: citizenID, Due: now.Add(interval(ans.interval)), Expires: now.Add(DeferredTTL)}
	if rec.Sealed, err = s.sealDeferred(ctx, rec, st); err != nil {
		return Deferred{}, err
	}
	if err := ds.PutDeferred(ctx, rec); err != nil {
		return Deferred{}, err
	}
	return deferredView(rec, st, lang), nil
}

// keepSession copies what the session holds now into the state.
func (st *deferredState) keepSession(sess *session) error {
	st.Token, st.TokenType, st.TokenExpires, st.DPoPNonce = sess.token, sess.tokenType, sess.expires, sess.dpopNonce
	st.Refresh, st.TokenEndpoint = sess.refresh, sess.tokenEndpoint
	st.DPoPKey = nil
	if sess.dpop != nil {
		k, err := sess.dpop.PrivateJWK()
		if err != nil {
			return err
		}
		st.DPoPKey = k
	}
	return nil
}

// session is the state's access token at the issuer.
func (st *deferredState) session() (*session, error) {
	sess := &session{token: st.Token, tokenType: st.TokenType, expires: st.TokenExpires, dpopNonce: st.DPoPNonce,
		refresh: st.Refresh, tokenEndpoint: st.TokenEndpoint}
	if len(st.DPoPKey) > 0 {
		k, err := jose.ParseClientKey(st.DPoPKey)
		if err != nil {
			return nil, err
		}
		sess.dpop = k
	}
	return sess, nil
}

func (s *Service) sealDeferred(ctx context.Context, rec DeferredRecord, st *deferredState) ([]byte, error) {
	return s.sealJSON(ctx, rec.CitizenID, deferredLabel(rec.ID), st)
}

func (s *Service) openDeferred(ctx context.Context, rec DeferredRecord) (*deferredState, error) {
	var st deferredState
	if err := s.openJSON(ctx, rec.CitizenID, deferredLabel(rec.ID), rec.Sealed, "deferred "+rec.ID, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

func deferredView(rec DeferredRecord, st *deferredState, lang string) Deferred {
	d := Deferred{ID: rec.ID, Issuer: st.Issuer, ConfigurationID: st.ConfigurationID, KeyMode: st.KeyMode, Created: st.Created,
		RetryAt: rec.Due, Expires: rec.Expires}
	if st.Metadata != nil {
		d.IssuerName = pick(st.Metadata.Display, lang).Name
		d.Display = pick(st.Metadata.Configurations[st.ConfigurationID].Metadata.Display, lang)
	}
	return d
}

// DeferredIssuances lists the citizen's deferred issuances, oldest first.
func (s *Service) DeferredIssuances(ctx context.Context, citizenID, lang string) ([]Deferred, error) {
	ds, err := s.deferredStore()
	if err != nil {
		return nil, err
	}
	rs, err := ds.ListDeferred(ctx, citizenID, s.cfg.Now())
	if err != nil {
		return nil, err
	}
	out := make([]Deferred, 0, len(rs))
	for _, r := range rs {
		st, err := s.openDeferred(ctx, r)
		if err != nil {
			return nil, err
		}
		out = append(out, deferredView(r, st, lang))
	}
	return out, nil
}

// CollectDeferred asks the issuer for one of the citizen's deferred
// credentials, if the interval the issuer gave has passed: the answer
// holds the credentials stored, or the deferred issuance again with when
// to retry. A transaction the issuer refuses for good
// (invalid_transaction_id, credential_request_denied) is dropped and its
// error returned; ErrNotFound for an unknown or expired one.
func (s *Service) CollectDeferred(ctx context.Context, citizenID, id, lang string) (Received, error) {
	ds, err := s.deferredStore()
	if err != nil {
		return Received{}, err
	}
	now := s.cfg.Now().UTC().Truncate(time.Microsecond)
	rec, claimed, err := ds.ClaimDeferred(ctx, citizenID, id, now, now.Add(deferredLease))
	if err != nil {
		return Received{}, err
	}
	st, err := s.openDeferred(ctx, rec)
	if err != nil {
		return Received{}, err
	}
	if !claimed {
		return Received{Deferred: []Deferred{deferredView(rec, st, lang)}}, nil
	}
	return s.collect(ctx, ds, rec, st, now, lang)
}

// PollDeferred asks issuers for the deferred credentials due at now, in
// batches, as the server's housekeeping does; it returns how many
// credentials were stored. An issuer's refusal drops its transaction;
// only the wallet's own failures are returned.
func (s *Service) PollDeferred(ctx context.Context, now time.Time) (int, error) {
	ds, err := s.deferredStore()
	if err != nil {
		return 0, nil
	}
	now = now.UTC().Truncate(time.Microsecond)
	rs, err := ds.DueDeferred(ctx, now, 100)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, r := range rs {
		rec, claimed, err := ds.ClaimDeferred(ctx, r.CitizenID, r.ID, now, now.Add(deferredLease))
		if errors.Is(err, ErrNotFound) || err == nil && !claimed {
			continue // taken meanwhile
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		st, err := s.openDeferred(ctx, rec)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		got, err := s.collect(ctx, ds, rec, st, now, "")
		n += len(got.Credentials)
		var we *Error
		if err != nil && !errors.As(err, &we) {
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}

// Outcomes of a deferred credential request.
type deferredOutcome int

const (
	deferredIssued    deferredOutcome = iota
	deferredPending                   // ask again after the interval
	deferredGone                      // the issuer refuses for good: drop it
	deferredTransient                 // unreachable, or failed on its side: ask again later
)

// collect asks the deferred credential endpoint once for a claimed
// record and acts on the answer.
func (s *Service) collect(ctx context.Context, ds DeferredStore, rec DeferredRecord, st *deferredState, now time.Time, lang string) (Received, error) {
	sess, err := st.session()
	if err != nil {
		return Received{}, err
	}
	ans, outcome, askErr := s.askDeferred(ctx, st, sess)
	switch outcome {
	case deferredIssued:
		c, err := s.keepIssued(ctx, rec.CitizenID, st.Issuer, st.Metadata, st.ConfigurationID, st.KeyMode, st.Keys, ans, sess, lang)
		// The transaction is spent either way (§9.1).
		if derr := ds.DeleteDeferred(ctx, rec.CitizenID, rec.ID); derr != nil && !errors.Is(derr, ErrNotFound) && err == nil {
			err = derr
		}
		if err != nil {
			return Received{}, err
		}
		return Received{Credentials: []Credential{c}}, nil
	case deferredGone:
		if err := ds.DeleteDeferred(ctx, rec.CitizenID, rec.ID); err != nil && !errors.Is(err, ErrNotFound) {
			return Received{}, err
		}
		return Received{}, askErr
	}
	if ans.interval > 0 {
		st.Interval = ans.interval
	}
	if err := st.keepSession(sess); err != nil {
		return Received{}, err
	}
	rec.Due = now.Add(interval(st.Interval))
	if rec.Sealed, err = s.sealDeferred(ctx, rec, st); err != nil {
		return Received{}, err
	}
	if err := ds.UpdateDeferred(ctx, rec); err != nil {
		return Received{}, err
	}
	if outcome == deferredTransient {
		return Received{}, askErr
	}
	return Received{Deferred: []Deferred{deferredView(rec, st, lang)}}, nil
}

// askDeferred posts a deferred credential request (§9.1), following a
// DPoP nonce and renewing an expired token with its refresh token once.
func (s *Service) askDeferred(ctx context.Context, st *deferredState, sess *session) (credAnswer, deferredOutcome, error) {
	body, err := json.Marshal(map[string]string{"transaction_id": st.TransactionID})
	if err != nil {
		return credAnswer{}, deferredTransient, err
	}
	refreshed := false
	refresh := func() error {
		refreshed = true
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {sess.refresh}}
		if st.ClientID != "" {
			form.Set("client_id", st.ClientID)
		}
		return s.token(ctx, sess.tokenEndpoint, form, sess)
	}
	if sess.refresh != "" && sess.tokenEndpoint != "" && !sess.expires.IsZero() && !s.cfg.Now().Before(sess.expires) {
		if err := refresh(); err != nil {
			return credAnswer{}, refreshFailed(err), err
		}
	}
	nonceRetried := false
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, st.Metadata.DeferredCredentialEndpoint, bytes.NewReader(body))
		if err != nil {
			return credAnswer{}, deferredGone, fail(ErrIssuer, err, "the deferred credential endpoint is not a URL")
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		if err := s.signDPoP(req, sess, sess.token); err != nil {
			return credAnswer{}, deferredTransient, err
		}
		res, err := s.cfg.HTTP.Do(req)
		if err != nil {
			return credAnswer{}, deferredTransient, fail(ErrIssuer, err, "the deferred credential endpoint could not be reached")
		}
		ans, outcome, retry, err := s.deferredAnswer(res, sess, &nonceRetried)
		res.Body.Close()
		if retry == retryRefresh && !refreshed && sess.refresh != "" && sess.tokenEndpoint != "" {
			if err := refresh(); err != nil {
				return credAnswer{}, refreshFailed(err), err
			}
			continue
		}
		if retry == retryNonce {
			continue
		}
		return ans, outcome, err
	}
}

// refreshFailed says what a failed token refresh means: a refusal ends
// the transaction, anything else is asked again later.
func refreshFailed(err error) deferredOutcome {
	if errors.Is(err, ErrRefused) {
		return deferredGone
	}
	return deferredTransient
}

type deferredRetry int

const (
	retryNone deferredRetry = iota
	retryNonce
	retryRefresh
)

// deferredAnswer reads a deferred credential endpoint's answer (§9.2,
// §9.3). Before 1.0 an issuer said issuance_pending as an error; both
// forms are read.
func (s *Service) deferredAnswer(res *http.Response, sess *session, nonceRetried *bool) (credAnswer, deferredOutcome, deferredRetry, error) {
	if n := res.Header.Get("DPoP-Nonce"); n != "" {
		sess.dpopNonce = n
	}
	switch {
	case res.StatusCode == http.StatusOK || res.StatusCode == http.StatusAccepted:
		var b credentialBody
		if err := readJSON(res, &b); err != nil {
			return credAnswer{}, deferredTransient, retryNone, fail(ErrIssuer, err, "the deferred credential endpoint's answer is not JSON")
		}
		ans, err := b.answer()
		switch {
		case err != nil:
			return credAnswer{}, deferredTransient, retryNone, err
		case ans.transactionID != "":
			return ans, deferredPending, retryNone, nil
		}
		return ans, deferredIssued, retryNone, nil
	case res.StatusCode == http.StatusUnauthorized:
		if strings.Contains(res.Header.Get("WWW-Authenticate"), "use_dpop_nonce") && !*nonceRetried {
			*nonceRetried = true
			return credAnswer{}, deferredTransient, retryNonce, nil
		}
		if strings.Contains(res.Header.Get("WWW-Authenticate"), "invalid_token") {
			return credAnswer{}, deferredGone, retryRefresh,
				fail(ErrRefused, nil, "the issuer no longer accepts the wallet's access token for this deferred credential; accept the offer again")
		}
		return credAnswer{}, deferredTransient, retryNone, fail(ErrRefused, nil, "the issuer did not accept the wallet's access token")
	case res.StatusCode == http.StatusBadRequest:
		var e struct {
			oauthError
			Interval int64 `json:"interval"`
		}
		_ = readJSON(res, &e)
		switch e.Error {
		case "issuance_pending":
			return credAnswer{interval: e.Interval}, deferredPending, retryNone, nil
		case "invalid_nonce", "invalid_dpop_proof":
			return credAnswer{}, deferredTransient, retryNone, refused(e.oauthError, "the deferred credential request was refused")
		}
		return credAnswer{}, deferredGone, retryNone, refused(e.oauthError, "the issuer will not issue this deferred credential")
	case res.StatusCode >= 500 || res.StatusCode == http.StatusTooManyRequests:
		return credAnswer{}, deferredTransient, retryNone, fail(ErrIssuer, nil, "the deferred credential endpoint answered %d", res.StatusCode)
	}
	var e oauthError
	_ = readJSON(res, &e)
	return credAnswer{}, deferredGone, retryNone, refused(e, "the issuer will not issue this deferred credential")
}
