package bench

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// secretAS is an authorization server that takes client_secret_basic only.
func secretAS(t *testing.T, clientID, secret string, methods []string) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL, "token_endpoint": srv.URL + "/oauth/token",
			"token_endpoint_auth_methods_supported": methods})
	})
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		// RFC 6749 §2.3.1: Basic credentials, each form-urlencoded.
		u, p, ok := r.BasicAuth()
		id, err1 := url.QueryUnescape(u)
		pw, err2 := url.QueryUnescape(p)
		if !ok || err1 != nil || err2 != nil || id != clientID || pw != secret || r.FormValue("grant_type") != "client_credentials" ||
			r.FormValue("client_assertion") != "" || r.FormValue("client_id") != "" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		_, _ = w.Write([]byte(`{"access_token":"at","token_type":"Bearer"}`))
	})
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestTokenClientSecretBasic(t *testing.T) {
	const id, secret = "agency:1 ñ", "s3cr/t+=%&"
	ctx := context.Background()
	tests := []struct {
		name    string
		methods []string
		secret  string
		wantErr string
	}{
		{name: "accepted", methods: []string{"private_key_jwt", "client_secret_basic"}, secret: secret},
		{name: "methods not listed", secret: secret},
		{name: "wrong secret", methods: []string{"client_secret_basic"}, secret: "other", wantErr: "status 401"},
		{name: "server without the method", methods: []string{"private_key_jwt"}, secret: secret, wantErr: "lacks client_secret_basic"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := secretAS(t, id, secret, tc.methods)
			c, err := NewTokenClient(ctx, TokenConfig{Issuer: srv.URL, ClientID: id, Secret: tc.secret, HTTP: NewHTTPClient(1)})
			if err == nil {
				err = c.Request(ctx)
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("got %v, want a token", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
	if _, err := NewTokenClient(ctx, TokenConfig{Issuer: "http://x", ClientID: id, Secret: secret, Key: newClientKey(t, "ES256"), HTTP: NewHTTPClient(1)}); err == nil {
		t.Error("a key and a secret together: no error, want one")
	}
}

func TestRSS(t *testing.T) {
	self, err := ProcessRSS(0)
	if err != nil || self.Bytes < 1<<20 {
		t.Fatalf("ProcessRSS(0) = %v, %v; want this process's resident set, over 1 MiB", self, err)
	}
	tests := []struct {
		name, body string
		want       int64
		wantErr    string
	}{
		{name: "exposition", body: "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 5.4657024e+07\nprocess_start_time_seconds 1.7e+09\n", want: 54657024},
		{name: "missing", body: "go_goroutines 12\n", wantErr: "no process_resident_memory_bytes"},
		{name: "not a number", body: "process_resident_memory_bytes lots\n", wantErr: "lots"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(tc.body)) }))
			defer srv.Close()
			got, err := MetricsRSS(context.Background(), srv.Client(), srv.URL+"/metrics")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, %v; want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got.Bytes != tc.want || got.Source != srv.URL+"/metrics" {
				t.Errorf("got %+v, %v; want %d bytes from the URL", got, err, tc.want)
			}
		})
	}
}
