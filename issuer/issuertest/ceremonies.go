package issuertest

import (
	"bytes"
	"testing"
	"time"

	"github.com/cedula/cedula/issuer"
)

func testCeremony(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	data, other := blob("ceremony:1", 300), []byte(`{"challenge":"x"}`)
	must(t, s.PutCeremony(ctx, "c1", data, baseTime().Add(5*time.Minute)), "PutCeremony")
	must(t, s.PutCeremony(ctx, "c2", other, baseTime().Add(5*time.Minute)), "PutCeremony")
	got, err := s.TakeCeremony(ctx, "c1", baseTime())
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("TakeCeremony: got %x, %v, want %x, nil", got, err, data)
	}
	_, err = s.TakeCeremony(ctx, "c1", baseTime())
	wantErr(t, "TakeCeremony again", err, issuer.ErrNotFound)
	got, err = s.TakeCeremony(ctx, "c2", baseTime())
	if err != nil || !bytes.Equal(got, other) {
		t.Errorf("TakeCeremony of another entry: got %q, %v, want %q, nil", got, err, other)
	}
}

func testCeremonyExpiry(t *testing.T, newStore NewStore) {
	for _, tc := range expiryCases(issuer.ErrNotFound) {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			data := blob("ceremony:1", 64)
			must(t, s.PutCeremony(t.Context(), "c1", data, tc.expires), "PutCeremony")
			got, err := s.TakeCeremony(t.Context(), "c1", tc.at)
			if wantErr(t, "TakeCeremony", err, tc.want) && err == nil && !bytes.Equal(got, data) {
				t.Errorf("TakeCeremony: got %x, want %x", got, data)
			}
		})
	}
}

func testTakeCeremonyConcurrent(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	data := blob("ceremony:1", 64)
	must(t, s.PutCeremony(ctx, "c1", data, baseTime().Add(5*time.Minute)), "PutCeremony")
	got := make([][]byte, 20)
	errs := together(len(got), func(i int) error {
		var err error
		got[i], err = s.TakeCeremony(ctx, "c1", baseTime())
		return err
	})
	if i := checkOnce(t, "TakeCeremony", errs, issuer.ErrNotFound); i >= 0 && !bytes.Equal(got[i], data) {
		t.Errorf("TakeCeremony: got %x, want %x", got[i], data)
	}
}
