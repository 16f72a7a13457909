package sdjwtvc

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/statuslist"
)

type listEntry struct {
	list    *statuslist.List
	fetched time.Time
	until   time.Time
}

// Status returns the status at ref in the issuer iss's Token Status List
// and when the list was read. The list is a Status List Token (typ
// statuslist+jwt) signed with iss's published keys, its sub the URI it was
// fetched from, not expired; it is cached for its ttl, bounded to
// [StatusMinTTL, StatusMaxTTL] (the lower bound when it has none) and
// never past its exp. Errors are *Failure with ReasonStatusUnavailable,
// the issuer's keys that cannot be read included.
func (r *Resolver) Status(ctx context.Context, iss string, ref statuslist.Reference) (uint8, time.Time, error) {
	if ref.Index < 0 {
		return 0, time.Time{}, fail(ReasonStatusUnavailable, "the status index is negative")
	}
	now := r.now()
	key := iss + " " + ref.URI // a list counts only for the issuer whose keys signed it
	r.mu.Lock()
	e, ok := r.lists[key]
	r.mu.Unlock()
	if !ok || now.Before(e.fetched) || !now.Before(e.until) {
		var err error
		if e, err = r.fetchList(ctx, iss, ref.URI, now); err != nil {
			return 0, time.Time{}, err
		}
		r.mu.Lock()
		put(&r.lists, key, e)
		r.mu.Unlock()
	}
	v, err := e.list.Get(ref.Index)
	if err != nil {
		return 0, time.Time{}, failf(ReasonStatusUnavailable, err, "the status index is outside the status list")
	}
	return v, e.fetched, nil
}

func (r *Resolver) fetchList(ctx context.Context, iss, uri string, now time.Time) (listEntry, error) {
	b, err := r.get(ctx, uri, "application/statuslist+jwt")
	if err != nil {
		return listEntry{}, failf(ReasonStatusUnavailable, err, "the status list could not be read: %v", err)
	}
	hdr, err := jose.Header(b)
	if err != nil {
		return listEntry{}, failf(ReasonStatusUnavailable, err, "the status list is not a JWT")
	}
	if typ, _ := hdr["typ"].(string); typ != statuslist.TokenType {
		return listEntry{}, fail(ReasonStatusUnavailable, "the status list's typ is not "+statuslist.TokenType)
	}
	payload, err := r.verifyIssuerJWS(ctx, iss, b, ReasonStatusUnavailable)
	if f := (*Failure)(nil); errors.As(err, &f) && f.Reason == ReasonIssuerUnavailable {
		return listEntry{}, failf(ReasonStatusUnavailable, err, "the status list cannot be verified: %s", f.Detail)
	}
	if err != nil {
		return listEntry{}, err
	}
	var t struct {
		statuslist.Token
		Iss *string `json:"iss"`
	}
	if err := json.Unmarshal(payload, &t); err != nil {
		return listEntry{}, failf(ReasonStatusUnavailable, err, "the status list token's claims have the wrong types")
	}
	switch {
	case t.Sub != uri:
		return listEntry{}, fail(ReasonStatusUnavailable, "the status list token's sub is not the URI it was fetched from")
	case t.Iss != nil && *t.Iss != iss:
		return listEntry{}, fail(ReasonStatusUnavailable, "the status list token's iss is not the credential's")
	case t.IssuedAt == 0:
		return listEntry{}, fail(ReasonStatusUnavailable, "the status list token has no iat")
	case time.Unix(t.IssuedAt, 0).After(now.Add(skew)):
		return listEntry{}, fail(ReasonStatusUnavailable, "the status list token was issued in the future")
	case t.Expiry != 0 && !now.Before(time.Unix(t.Expiry, 0)):
		return listEntry{}, fail(ReasonStatusUnavailable, "the status list token has expired")
	case t.TTL < 0:
		return listEntry{}, fail(ReasonStatusUnavailable, "the status list token's ttl is negative")
	}
	l, err := statuslist.Decode(t.StatusList.Bits, t.StatusList.Lst)
	if err != nil {
		return listEntry{}, failf(ReasonStatusUnavailable, err, "the status list does not decode")
	}
	lo, hi := orDefault(r.StatusMinTTL, DefaultStatusMinTTL), orDefault(r.StatusMaxTTL, DefaultStatusMaxTTL)
	ttl := lo
	if t.TTL > 0 {
		ttl = time.Duration(min(t.TTL, int64(hi/time.Second)+1)) * time.Second // no overflow
		ttl = max(lo, min(hi, ttl))
	}
	until := now.Add(ttl)
	if t.Expiry != 0 {
		if exp := time.Unix(t.Expiry, 0); exp.Before(until) {
			until = exp
		}
	}
	return listEntry{list: l, fetched: now, until: until}, nil
}
