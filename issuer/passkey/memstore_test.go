package passkey_test

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/cedula/cedula/issuer"
)

// memStore keeps citizens, passkeys and ceremonies in memory, with the
// semantics the issuer.Store contracts promise. It is a test double for the
// ceremony tests; the pages tests run over the SQL store.
type memStore struct {
	mu         sync.Mutex
	citizens   map[string]issuer.Citizen
	passkeys   []issuer.Passkey
	ceremonies map[string]memCeremony
}

type memCeremony struct {
	data    []byte
	expires time.Time
}

func newMemStore() *memStore {
	return &memStore{citizens: map[string]issuer.Citizen{}, ceremonies: map[string]memCeremony{}}
}

func (m *memStore) CreateCitizen(_ context.Context, c issuer.Citizen) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.citizens[c.ID]; ok {
		return issuer.ErrExists
	}
	m.citizens[c.ID] = c
	return nil
}

func (m *memStore) Citizen(_ context.Context, id string) (issuer.Citizen, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.citizens[id]
	if !ok {
		return issuer.Citizen{}, issuer.ErrNotFound
	}
	return c, nil
}

func (m *memStore) find(id []byte) int {
	return slices.IndexFunc(m.passkeys, func(p issuer.Passkey) bool { return string(p.ID) == string(id) })
}

func (m *memStore) AddPasskey(_ context.Context, p issuer.Passkey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.find(p.ID) >= 0 {
		return issuer.ErrExists
	}
	m.passkeys = append(m.passkeys, p)
	return nil
}

func (m *memStore) Passkey(_ context.Context, id []byte) (issuer.Passkey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := m.find(id)
	if i < 0 {
		return issuer.Passkey{}, issuer.ErrNotFound
	}
	return m.passkeys[i], nil
}

func (m *memStore) PasskeysOf(_ context.Context, citizenID string) ([]issuer.Passkey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []issuer.Passkey
	for _, p := range m.passkeys {
		if p.CitizenID == citizenID {
			out = append(out, p)
		}
	}
	return out, nil
}

func (m *memStore) RecordPasskeyUse(_ context.Context, id []byte, signCount uint32, backupState bool, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := m.find(id)
	if i < 0 {
		return issuer.ErrNotFound
	}
	p := &m.passkeys[i]
	if signCount <= p.SignCount && (signCount != 0 || p.SignCount != 0) {
		return issuer.ErrCounter
	}
	p.SignCount, p.BackupState, p.LastUsed = signCount, backupState, at
	return nil
}

func (m *memStore) RenamePasskey(_ context.Context, citizenID string, id []byte, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := m.find(id)
	if i < 0 || m.passkeys[i].CitizenID != citizenID {
		return issuer.ErrNotFound
	}
	m.passkeys[i].Name = name
	return nil
}

func (m *memStore) DeletePasskey(_ context.Context, citizenID string, id []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := m.find(id)
	if i < 0 || m.passkeys[i].CitizenID != citizenID {
		return issuer.ErrNotFound
	}
	m.passkeys = slices.Delete(m.passkeys, i, i+1)
	return nil
}

func (m *memStore) DeletePasskeysExcept(_ context.Context, citizenID string, keep []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.passkeys)
	m.passkeys = slices.DeleteFunc(m.passkeys, func(p issuer.Passkey) bool {
		return p.CitizenID == citizenID && string(p.ID) != string(keep)
	})
	return n - len(m.passkeys), nil
}

func (m *memStore) PutCeremony(_ context.Context, id string, data []byte, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ceremonies[id] = memCeremony{data: slices.Clone(data), expires: expires}
	return nil
}

func (m *memStore) TakeCeremony(_ context.Context, id string, now time.Time) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.ceremonies[id]
	delete(m.ceremonies, id)
	if !ok || !now.Before(c.expires) {
		return nil, issuer.ErrNotFound
	}
	return c.data, nil
}
