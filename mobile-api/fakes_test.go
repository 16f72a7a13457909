package mobileapi_test

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/cedula/cedula/audit/auditapi"
	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/consent/consentapi"
	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/issuer"
	mobileapi "github.com/cedula/cedula/mobile-api"
)

// noLedger is a consent ledger without purposes or records, an audit log
// without entries and agencies named by their IDs: the real ones are
// exercised end to end in cmd/cedula/app.
type noLedger struct{}

func (noLedger) Records(context.Context, string) ([]consent.Record, error) { return nil, nil }
func (noLedger) Record(context.Context, string, string) (consent.Record, error) {
	return consent.Record{}, consent.ErrNotFound
}
func (noLedger) History(context.Context, string) ([]consent.Event, error) { return nil, nil }
func (noLedger) Purpose(context.Context, string) (consent.Purpose, error) {
	return consent.Purpose{}, consent.ErrNotFound
}
func (noLedger) Give(context.Context, consent.Request) (consent.Record, error) {
	return consent.Record{}, consent.ErrNotFound
}
func (noLedger) Withdraw(context.Context, consent.Request) (consent.Record, error) {
	return consent.Record{}, consent.ErrNotFound
}
func (noLedger) Receipt(context.Context, string, string, string) (consentapi.Receipt, error) {
	return consentapi.Receipt{}, httpapi.NotFound("no receipt")
}
func (noLedger) About(context.Context, string, int64, int) (auditapi.Page, error) {
	return auditapi.Page{Entries: []auditapi.ViewEntry{}}, nil
}
func (noLedger) AgencyName(_ context.Context, id string) string { return id }

// passkeys are citizens' passkeys in memory, with the store's rule for
// the last one (no citizen here has recovery codes).
type passkeys struct {
	mu sync.Mutex
	by map[string][]issuer.Passkey
}

func newPasskeys() *passkeys {
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return &passkeys{by: map[string][]issuer.Passkey{
		"cit-a": {{ID: []byte("pk-a1"), CitizenID: "cit-a", Name: "Phone", Created: t}, {ID: []byte("pk-a2"), CitizenID: "cit-a", Name: "Laptop", Created: t.Add(time.Hour)}},
		"cit-b": {{ID: []byte("pk-b1"), CitizenID: "cit-b", Name: "Beto's", Created: t}},
	}}
}

func (p *passkeys) PasskeysOf(_ context.Context, citizenID string) ([]issuer.Passkey, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.by[citizenID]), nil
}

func (p *passkeys) RenamePasskey(_ context.Context, citizenID string, id []byte, name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, k := range p.by[citizenID] {
		if bytes.Equal(k.ID, id) {
			p.by[citizenID][i].Name = name
			return nil
		}
	}
	return issuer.ErrNotFound
}

func (p *passkeys) DeletePasskey(_ context.Context, citizenID string, id []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	ks := p.by[citizenID]
	i := slices.IndexFunc(ks, func(k issuer.Passkey) bool { return bytes.Equal(k.ID, id) })
	switch {
	case i < 0:
		return issuer.ErrNotFound
	case len(ks) == 1:
		return issuer.ErrLastPasskey
	}
	p.by[citizenID] = slices.Delete(ks, i, i+1)
	return nil
}

// noLocations keeps no location.
type noLocations struct{}

func (noLocations) Share(context.Context, string, *float64, *float64, *mobileapi.Geocode) error {
	return nil
}
func (noLocations) Forget(context.Context, string) error        { return nil }
func (noLocations) Areas(context.Context) []mobileapi.KnownArea { return nil }

func (noLocations) Get(context.Context, string) (mobileapi.Preferences, error) {
	return mobileapi.Preferences{}, nil
}

func (noLocations) Set(_ context.Context, _ string, p mobileapi.Preferences) (mobileapi.Preferences, error) {
	return p, nil
}
