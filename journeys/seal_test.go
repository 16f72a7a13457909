package journeys_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/cedula/cedula/internal/keys/localkeys"
	"github.com/cedula/cedula/journeys"
)

// memSeals is a SealStore in memory, for the fuzz target.
type memSeals struct {
	mu sync.Mutex
	m  map[string]journeys.SealRecord
}

func (s *memSeals) PutSeal(_ context.Context, r journeys.SealRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[string(r.CodeMAC)] = r
	return nil
}

func (s *memSeals) Seal(_ context.Context, mac []byte) (journeys.SealRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[string(mac)]
	if !ok {
		return r, journeys.ErrNotFound
	}
	return r, nil
}

// FuzzCheck: whatever is typed or pasted, a check answers without
// panicking, and only a text carrying the sealed code is genuine.
func FuzzCheck(f *testing.F) {
	km, err := localkeys.Open(f.TempDir()+"/ks.json", localkeys.WithKEK(make([]byte, localkeys.KEKSize)))
	if err != nil {
		f.Fatal(err)
	}
	seals, err := journeys.NewSeals(km, &memSeals{m: map[string]journeys.SealRecord{}}, []byte(strings.Repeat("k", 32)), "https://id.example.gob", nil)
	if err != nil {
		f.Fatal(err)
	}
	sealed, err := seals.Seal(context.Background(), journeys.Message{Agency: "tax", Lang: "en", Body: "Your return was received."})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed.Code, "")
	f.Add("", sealed.Text)
	f.Add("", "Verification code: OOOO-IIII-LLLL.")
	f.Add("abcd efgh jkmn", "Código de verificación: ")
	norm := strings.ReplaceAll(sealed.Code, "-", "")
	f.Fuzz(func(t *testing.T, code, text string) {
		v, err := seals.Check(context.Background(), code, text)
		if err != nil {
			t.Fatal(err)
		}
		if v.Genuine && !strings.Contains(flatten(code+text), norm) {
			t.Fatalf("genuine without the code: %q %q", code, text)
		}
	})
}

// flatten keeps the letters and digits of s, upper case, read as a code
// is (O as 0, I and L as 1).
func flatten(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == 'O':
			b.WriteByte('0')
		case r == 'I' || r == 'L':
			b.WriteByte('1')
		case r >= '0' && r <= '9' || r >= 'A' && r <= 'Z':
			b.WriteRune(r)
		}
	}
	return b.String()
}
