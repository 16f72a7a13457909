package vci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/statuslist"
)

// Deferred serves a deferred credential request (§9): the credentials once
// an officer approved the request, issuance_pending before, and
// credential_request_denied after a rejection.
func (s *Service) Deferred(ctx context.Context, a Access, body []byte, encrypted bool) (Response, error) {
	var req struct {
		TransactionID string          `json:"transaction_id"`
		Encryption    json.RawMessage `json:"credential_response_encryption"`
	}
	if len(body) > MaxRequest || json.Unmarshal(body, &req) != nil || req.TransactionID == "" || len(req.TransactionID) > 128 {
		return Response{}, protocolError(CodeInvalidCredentialRequest, "the body must be a JSON object with a transaction_id")
	}
	enc, perr := s.encryption(req.Encryption, encrypted)
	if perr != nil {
		return Response{}, perr
	}
	c, err := s.cfg.Store.CredentialByTransaction(ctx, codeHash(req.TransactionID))
	if errors.Is(err, ErrNotFound) || err == nil && c.ID != a.CredentialID {
		return Response{}, protocolError(CodeInvalidTransaction, "no deferred request of this access token has that transaction_id")
	}
	if err != nil {
		return Response{}, err
	}
	switch c.State {
	case StatePending:
		return Response{}, &Error{Code: CodeIssuancePending, Status: http.StatusBadRequest, Description: "an officer has not decided yet; retry later"}
	case StateRejected:
		return Response{}, protocolError(CodeDenied, "an officer rejected the request")
	case StateApproved:
	default:
		return Response{}, protocolError(CodeInvalidTransaction, "the credentials of this transaction have been collected")
	}
	var jwks []json.RawMessage
	if err := json.Unmarshal(c.Pending, &jwks); err != nil || len(jwks) == 0 {
		return Response{}, fmt.Errorf("vci: deferred request %s: holder keys: %v", c.ID, err)
	}
	hs := make([]holder, len(jwks))
	for i, k := range jwks {
		hs[i] = holder{JWK: k}
	}
	creds, err := s.issue(ctx, c, s.types[c.TypeID], hs, nil)
	if err != nil {
		return Response{}, err
	}
	return encrypt(Response{Status: http.StatusOK, Credentials: creds, NotificationID: c.ID}, nil)(enc)
}

// Decide approves or rejects, for the agency clientID, the deferred
// request of its issuance id.
func (s *Service) Decide(ctx context.Context, clientID, id string, approve bool) (Credential, error) {
	c, err := s.owned(ctx, clientID, id)
	if err != nil {
		return Credential{}, err
	}
	to, outcome := StateApproved, audit.Allowed
	if !approve {
		to, outcome = StateRejected, audit.Denied
	}
	e := s.entry(ctx, ActionDecide, agency(clientID), c.CitizenID, s.types[c.TypeID], outcome)
	if err := s.cfg.Store.SetState(ctx, id, []State{StatePending}, to, e); err != nil {
		return Credential{}, err
	}
	c.State = to
	return c, nil
}

// owned returns the agency's issuance id (ErrNotFound for another's).
func (s *Service) owned(ctx context.Context, clientID, id string) (Credential, error) {
	c, err := s.cfg.Store.Credential(ctx, id)
	if err != nil {
		return Credential{}, err
	}
	if c.ClientID != clientID {
		return Credential{}, fmt.Errorf("credential %s: %w", id, ErrNotFound)
	}
	return c, nil
}

// Events a wallet notifies (§10.1).
var Events = []string{"credential_accepted", "credential_failure", "credential_deleted"}

// Notify records a wallet's notification (§10): idempotent, audited.
func (s *Service) Notify(ctx context.Context, a Access, body []byte) error {
	var req struct {
		NotificationID string `json:"notification_id"`
		Event          string `json:"event"`
		Description    string `json:"event_description"`
	}
	if len(body) > MaxRequest || json.Unmarshal(body, &req) != nil || req.NotificationID == "" || !slices.Contains(Events, req.Event) {
		return protocolError(CodeInvalidNotification, "the body must be a JSON object with notification_id and an event of "+fmt.Sprint(Events))
	}
	if req.NotificationID != a.CredentialID {
		return protocolError(CodeInvalidNotificationID, "no credential response of this access token has that notification_id")
	}
	c, err := s.cfg.Store.Credential(ctx, a.CredentialID)
	if err != nil {
		return err
	}
	if c.Count == 0 {
		return protocolError(CodeInvalidNotificationID, "no credential has been issued for that notification_id yet")
	}
	if c.Event == req.Event {
		return nil
	}
	outcome := audit.Allowed
	if req.Event != "credential_accepted" {
		outcome = audit.Failed
	}
	e := s.entry(ctx, ActionNotify+"."+strings.TrimPrefix(req.Event, "credential_"), audit.Actor{Kind: audit.ActorCitizen, ID: s.pseudonym(c.CitizenID)},
		c.CitizenID, s.types[c.TypeID], outcome)
	return s.cfg.Store.Notify(ctx, c.ID, req.Event, e)
}

// SetStatus sets, for the agency clientID, the status of every credential
// of its issuance id: valid (reinstated), suspended or invalid (revoked,
// for good). The lists served after it returns show it.
func (s *Service) SetStatus(ctx context.Context, clientID, id, status string) (Credential, error) {
	v, ok := StatusValue(status)
	if !ok {
		return Credential{}, fmt.Errorf("%w: status %.40q is not valid, suspended or invalid", ErrInvalid, status)
	}
	c, err := s.owned(ctx, clientID, id)
	if err != nil {
		return Credential{}, err
	}
	if c.Count == 0 {
		return Credential{}, fmt.Errorf("%w: nothing has been issued yet", ErrState)
	}
	if c.Status == v {
		return c, nil
	}
	if c.Status == statuslist.Invalid {
		return Credential{}, fmt.Errorf("%w: a revoked credential stays revoked", ErrState)
	}
	e := s.entry(ctx, statusActions[v], agency(clientID), c.CitizenID, s.types[c.TypeID], audit.Allowed)
	if err := s.cfg.Store.SetStatus(ctx, id, v, e); err != nil {
		return Credential{}, err
	}
	if s.cfg.StatusChanged != nil {
		s.cfg.StatusChanged(ctx, c.CitizenID)
	}
	c.Status = v
	return c, nil
}

// Credentials lists the agency's issuances. Who received which
// credential is the citizens' data: the read is in the log, one entry per
// citizen listed, before the answer goes.
func (s *Service) Credentials(ctx context.Context, clientID, cursor string, limit int) ([]Credential, string, error) {
	cs, next, err := s.cfg.Store.Credentials(ctx, clientID, cursor, limit)
	if err != nil {
		return nil, "", err
	}
	return cs, next, s.logReads(ctx, clientID, cs...)
}

// Get returns the agency's issuance id; the read is in the log.
func (s *Service) Get(ctx context.Context, clientID, id string) (Credential, error) {
	c, err := s.owned(ctx, clientID, id)
	if err != nil {
		return Credential{}, err
	}
	return c, s.logReads(ctx, clientID, c)
}

// logReads appends an agency's read of issuances, one entry per citizen.
func (s *Service) logReads(ctx context.Context, clientID string, cs ...Credential) error {
	var entries []audit.Entry
	seen := map[string]bool{}
	for _, c := range cs {
		if c.CitizenID == "" || seen[c.CitizenID] {
			continue
		}
		seen[c.CitizenID] = true
		entries = append(entries, s.entry(ctx, ActionRead, agency(clientID), c.CitizenID, s.types[c.TypeID], audit.Allowed))
	}
	if len(entries) == 0 {
		return nil
	}
	_, err := s.cfg.Audit.Append(ctx, entries...)
	return err
}

// CitizenCredentials lists a citizen's issuances, newest first.
func (s *Service) CitizenCredentials(ctx context.Context, citizenID string) ([]Credential, error) {
	return s.cfg.Store.CitizenCredentials(ctx, citizenID, 200)
}

// SubjectOf is the sub clientID knows citizenID by.
func (s *Service) SubjectOf(ctx context.Context, clientID, citizenID string) (string, error) {
	return s.cfg.Citizens.Subject(ctx, clientID, citizenID)
}

// Holder returns the citizen who holds the credential at a place of one
// of this issuer's status lists (its uri and index), as a verifier of
// Cedula asks before the ledger decides on a presentation; ErrNotFound
// when the place is not one of this issuer's issued credentials.
func (s *Service) Holder(ctx context.Context, uri string, idx int) (string, error) {
	prefix := s.cfg.StatusListURI("")
	list, ok := strings.CutPrefix(uri, prefix)
	if !ok || list == "" || strings.ContainsAny(list, "/?#") || idx < 0 {
		return "", ErrNotFound
	}
	c, err := s.cfg.Store.CredentialAtPlace(ctx, list, idx)
	if err != nil {
		return "", err
	}
	if c.State != StateIssued {
		return "", ErrNotFound
	}
	return c.CitizenID, nil
}
