package vci

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cedula/cedula/issuer"
)

// TestHTTPSource: the agency back end's answers and failures, mapped;
// failures that may pass are retried, others are not.
func TestHTTPSource(t *testing.T) {
	var calls atomic.Int32
	answer := func(w http.ResponseWriter, r *http.Request) {}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		answer(w, r)
	}))
	defer srv.Close()
	req := SourceRequest{TypeID: "pid", CitizenID: "c1", Subject: "sub-at-agency"}
	for _, tc := range []struct {
		name   string
		answer func(w http.ResponseWriter, r *http.Request)
		want   error
		calls  int32
	}{
		{"claims", func(w http.ResponseWriter, r *http.Request) {
			var body map[string]string
			if json.NewDecoder(r.Body).Decode(&body) != nil || body["sub"] != "sub-at-agency" || body["credential_configuration_id"] != "pid" ||
				r.Header.Get("Content-Type") != "application/json" {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			w.Write([]byte(`{"given_name":"Ana"}`))
		}, nil, 1},
		{"no record", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotFound) }, ErrNoRecord, 1},
		{"refused", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusForbidden) }, ErrSourceFailed, 1},
		{"down", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }, ErrSourceFailed, 3},
		{"not JSON", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) }, ErrSourceFailed, 1},
		{"not an object", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`[1]`)) }, ErrSourceFailed, 1},
		{"slow", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}, ErrSourceTimeout, 3},
		{"flaky", func(w http.ResponseWriter, r *http.Request) {
			if calls.Load() == 1 {
				w.WriteHeader(http.StatusBadGateway)
				return
			}
			w.Write([]byte(`{"given_name":"Ana"}`))
		}, nil, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls.Store(0)
			answer = tc.answer
			s := &HTTPSource{URL: srv.URL, Timeout: 100 * time.Millisecond, Retries: 2}
			claims, err := s.Claims(context.Background(), req)
			if !errors.Is(err, tc.want) || (tc.want == nil && claims["given_name"] != "Ana") {
				t.Errorf("got %v, %v; want %v", claims, err, tc.want)
			}
			if calls.Load() != tc.calls {
				t.Errorf("%d calls, want %d", calls.Load(), tc.calls)
			}
		})
	}
	// The caller's deadline ends the retries.
	answer = func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := (&HTTPSource{URL: srv.URL, Retries: 5}).Claims(ctx, req); !errors.Is(err, ErrSourceTimeout) && !errors.Is(err, ErrSourceFailed) {
		t.Errorf("with the caller's deadline: %v", err)
	}
}

// TestDemoRegistry: the same fictional claims every time, with every
// mandatory claim of the demo's types.
func TestDemoRegistry(t *testing.T) {
	s := proofService(t)
	now := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	c := issuer.Citizen{ID: "c1", GivenName: "Ana", FamilyName: "García", Birthdate: "1990-12-06"}
	for id, ty := range s.types {
		a, err := DemoRegistry{}.Claims(context.Background(), SourceRequest{TypeID: id, CitizenID: c.ID, Citizen: c, Now: now})
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		b, _ := DemoRegistry{}.Claims(context.Background(), SourceRequest{TypeID: id, CitizenID: c.ID, Citizen: c, Now: now})
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if string(ja) != string(jb) {
			t.Errorf("%s: two answers differ", id)
		}
		for _, cl := range ty.Claims {
			if name, _ := cl.Path[0].(string); cl.Mandatory && a[name] == nil {
				t.Errorf("%s lacks the mandatory %s", id, name)
			}
		}
	}
	pid, _ := DemoRegistry{}.Claims(context.Background(), SourceRequest{TypeID: "pid", CitizenID: c.ID, Citizen: c, Now: now})
	if pid["age_in_years"] != 35 || pid["age_over_18"] != true || pid["age_over_65"] != false {
		t.Errorf("ages the day before the 36th birthday: %v %v %v", pid["age_in_years"], pid["age_over_18"], pid["age_over_65"])
	}
	if _, err := (DemoRegistry{}).Claims(context.Background(), SourceRequest{TypeID: "unknown"}); !errors.Is(err, ErrNoRecord) {
		t.Errorf("unknown type: %v", err)
	}
}
