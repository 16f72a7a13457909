package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/cmd/cedula/app/apptest"
	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/demo"
)

// tokenServer is a minimal authorization server for the bench command's
// wiring: discovery and a token endpoint that verifies the client assertion
// with jwks. internal/bench's tests check the assertion in depth.
func tokenServer(t *testing.T, jwks []byte) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL, "token_endpoint": srv.URL + "/token"})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		if _, err := jose.Verify([]byte(r.FormValue("client_assertion")), jwks); err != nil || r.FormValue("grant_type") != "client_credentials" {
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

// clientKeyFile writes a new ES256 client key as a JWK file and returns its
// path and public JWKS.
func clientKeyFile(t *testing.T) (string, []byte) {
	t.Helper()
	k, err := jose.NewClientKey(keys.ES256)
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := k.PrivateJWK()
	jwks, _ := k.PublicJWKS()
	path := filepath.Join(t.TempDir(), "client.jwk")
	if err := os.WriteFile(path, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, jwks
}

func TestRunBench(t *testing.T) {
	keyFile, jwks := clientKeyFile(t)
	srv := tokenServer(t, jwks)
	otherKey, _ := clientKeyFile(t)
	short := []string{"--concurrency", "2", "--duration", "200ms", "--warmup", "0s"}
	tests := []struct {
		name    string
		args    []string
		want    []string // in the output
		wantErr string
	}{
		{name: "reference", args: append([]string{"reference", "--quiet"}, short...),
			want: []string{"reference J: http://127.0.0.1:", "scenario", "p99", "J = "}},
		{name: "reference with progress", args: []string{"reference", "--concurrency", "1", "--duration", "1500ms", "--warmup", "0s"},
			want: []string{"ops/s", "err/s"}},
		{name: "token without compare", args: append([]string{"token", "--quiet", "--compare=false", "--url", srv.URL, "--client-id", "agency-1", "--client-key", keyFile}, short...),
			want: []string{"token: " + srv.URL + "/token, client agency-1 (private_key_jwt, ES256", "ops/s"}},
		{name: "token with compare", args: append([]string{"token", "--quiet", "--min-ratio", "0", "--url", srv.URL, "--client-id", "agency-1", "--client-key", keyFile}, short...),
			want: []string{"reference", "median token/median J over 3 rounds = "}},
		{name: "token with one round", args: append([]string{"token", "--quiet", "--min-ratio", "0", "--rounds", "1", "--url", srv.URL, "--client-id", "agency-1", "--client-key", keyFile}, short...),
			want: []string{"reference", "token/J = "}},
		{name: "token with an unregistered key", args: append([]string{"token", "--url", srv.URL, "--client-id", "agency-1", "--client-key", otherKey}, short...),
			wantErr: "first request to " + srv.URL + "/token: token: status 401"},
		{name: "token without flags", args: []string{"token"},
			wantErr: "--url is required\n--client-id is required\n--client-key is required"},
		{name: "token with a missing key file", args: []string{"token", "--url", srv.URL, "--client-id", "a", "--client-key", "/nonexistent.jwk"},
			wantErr: "no such file"},
		{name: "bad concurrency", args: []string{"reference", "--concurrency", "0"}, wantErr: "concurrency 0"},
		{name: "stray argument", args: []string{"reference", "extra"}, wantErr: `unexpected argument "extra"`},
		{name: "unknown scenario", args: []string{"nope"}, wantErr: `unknown scenario "nope"`},
		{name: "no scenario", args: nil, wantErr: "needs a scenario"},
		{name: "help", args: []string{"help"}, want: []string{"cedula bench token --url URL"}},
		{name: "audit on SQLite", args: append([]string{"audit", "--quiet"}, short...), want: []string{"fdatasync", "appends at concurrency 1 = ", "(sqlite,"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			err := runBench(t.Context(), tc.args, &out)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none; output:\n%s", err, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output:\n%s\nwant it to contain %q", out.String(), w)
				}
			}
		})
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestBenchTokenRealServer: `cedula bench token` against a real server set
// up as by `serve --demo`, with each client authentication: the demo's
// client_secret_basic and private_key_jwt back-ends; every token counted
// is in the audit log, and the server's RSS is read from its metrics or
// from /proc.
func TestBenchTokenRealServer(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	t.Setenv("CEDULA_KEK", strings.Repeat("5e", 32))
	s, base := apptest.Start(t, cfg)
	ctx := context.Background()
	if err := app.SeedDemo(ctx, s, io.Discard); err != nil {
		t.Fatal(err)
	}
	admin := httptest.NewServer(s.AdminHandler())
	defer admin.Close()
	short := []string{"--quiet", "--compare=false", "--concurrency", "2", "--duration", "300ms", "--warmup", "0s", "--url", base}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"secret", []string{"--auth", "secret", "--client-id", demo.SecretMachineID,
			"--client-secret-file", filepath.Join(cfg.DataDir, demo.SecretMachineID+".secret"), "--metrics-url", admin.URL + "/metrics"},
			[]string{"client " + demo.SecretMachineID + " (client_secret_basic)", "RSS of the server after token round 1: ", " MiB (" + admin.URL + "/metrics)"}},
		{"jwt", []string{"--client-id", demo.MachineID, "--client-key", filepath.Join(cfg.DataDir, demo.MachineID+".jwk"),
			"--pid", fmt.Sprint(os.Getpid())},
			[]string{"client " + demo.MachineID + " (private_key_jwt, ES256", fmt.Sprintf(" MiB (/proc/%d/status)", os.Getpid())}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tokensInLog(t, s)
			var out strings.Builder
			if err := runBench(ctx, append(append([]string{"token"}, short...), tc.args...), &out); err != nil {
				t.Fatalf("bench token: %v\n%s", err, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output:\n%s\nwant it to contain %q", out.String(), w)
				}
			}
			var ok int
			for _, line := range strings.Split(out.String(), "\n") {
				if f := strings.Fields(line); len(f) > 4 && f[0] == "token" && f[1] == "2" {
					ok, _ = strconv.Atoi(f[3])
				}
			}
			if got := tokensInLog(t, s) - before; ok == 0 || got < ok {
				t.Errorf("%d tokens counted, %d new oidc.token entries in the log; want some, each in the log", ok, got)
			}
		})
	}
	var out strings.Builder
	err := runBench(ctx, append(append([]string{"token"}, short...), "--auth", "secret", "--client-id", demo.SecretMachineID,
		"--client-secret-file", filepath.Join(cfg.DataDir, demo.MachineID+".jwk")), &out)
	if err == nil || !strings.Contains(err.Error(), "first request") || !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("a wrong secret: got %v, want the first request refused with invalid_client", err)
	}
}

// TestBenchTokenAgainst: --against measures the same request on a second
// server in every round (here a second server with its own demo secret)
// and reports the first's throughput as a share of the second's; both
// servers' logs hold the tokens each was asked for.
func TestBenchTokenAgainst(t *testing.T) {
	t.Setenv("CEDULA_KEK", strings.Repeat("5e", 32))
	ctx := context.Background()
	var bases, secrets []string
	var servers []*app.Server
	for range 2 {
		cfg := config.Default()
		cfg.DataDir = t.TempDir()
		s, base := apptest.Start(t, cfg)
		if err := app.SeedDemo(ctx, s, io.Discard); err != nil {
			t.Fatal(err)
		}
		servers, bases = append(servers, s), append(bases, base)
		secrets = append(secrets, filepath.Join(cfg.DataDir, demo.SecretMachineID+".secret"))
	}
	before := []int{tokensInLog(t, servers[0]), tokensInLog(t, servers[1])}
	var out strings.Builder
	err := runBench(ctx, []string{"token", "--quiet", "--concurrency", "2", "--duration", "200ms", "--warmup", "0s", "--rounds", "2",
		"--min-ratio", "0", "--metrics-url", "none", "--url", bases[0], "--auth", "secret", "--client-id", demo.SecretMachineID,
		"--client-secret-file", secrets[0], "--against", bases[1], "--against-client-secret-file", secrets[1]}, &out)
	if err != nil {
		t.Fatalf("bench token --against: %v\n%s", err, out.String())
	}
	for _, w := range []string{"against: " + bases[1] + "/oauth/token", "median against/median J = ", "token as a share of against, median of the rounds' ratios: "} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output:\n%s\nwant it to contain %q", out.String(), w)
		}
	}
	rows := 0
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[0] == "against" && f[1] == "2" {
			rows++
		}
	}
	if rows != 2 {
		t.Errorf("%d rounds of against in the table, want 2:\n%s", rows, out.String())
	}
	for i, s := range servers {
		if got := tokensInLog(t, s) - before[i]; got == 0 {
			t.Errorf("server %d: no new token in its log", i+1)
		}
	}
	// A wrong secret for the second server is refused at its first request.
	out.Reset()
	err = runBench(ctx, []string{"token", "--quiet", "--compare=false", "--concurrency", "1", "--duration", "100ms", "--warmup", "0s",
		"--metrics-url", "none", "--url", bases[0], "--auth", "secret", "--client-id", demo.SecretMachineID,
		"--client-secret-file", secrets[0], "--against", bases[1]}, &out)
	if err == nil || !strings.Contains(err.Error(), bases[1]) || !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("--against with the first server's secret: got %v, want the second server's first request refused", err)
	}
}

// tokensInLog counts the oidc.token entries of the server's audit log.
func tokensInLog(t *testing.T, s *app.Server) int {
	t.Helper()
	return entriesInLog(t, s, issuer.ActionToken)
}

// entriesInLog counts the entries of action in the server's audit log.
func entriesInLog(t *testing.T, s *app.Server, action string) int {
	t.Helper()
	ctx := context.Background()
	if err := s.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	n := 0
	for after := int64(0); ; {
		recs, next, err := s.Audit.Search(ctx, audit.Query{Action: action, After: after, Limit: audit.MaxSearch})
		if err != nil {
			t.Fatal(err)
		}
		n += len(recs)
		if next == 0 {
			return n
		}
		after = next
	}
}

// TestBenchReferenceServe: `cedula bench reference --serve ADDR` serves J
// until interrupted, answering the wrk script's requests.
func TestBenchReferenceServe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := runBench(ctx, []string{"reference", "--serve", addr}, pw)
		pw.Close()
		done <- err
	}()
	lines := bufio.NewScanner(pr)
	if !lines.Scan() || !strings.Contains(lines.Text(), "reference J serving on http://"+addr+"/sign") {
		t.Fatalf("first line %q, want the address it serves on", lines.Text())
	}
	req, _ := http.NewRequest("POST", "http://"+addr+"/sign", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("demo-machine-secret", "secret")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `"credential":"ey`) {
		t.Errorf("POST /sign: %d %s, want a signed credential", res.StatusCode, body)
	}
	cancel()
	var rest strings.Builder
	for lines.Scan() {
		rest.WriteString(lines.Text() + "\n")
	}
	if err := <-done; err != nil {
		t.Fatalf("reference --serve after the interrupt: %v", err)
	}
	if !strings.Contains(rest.String(), "RSS of J's process (this one): ") {
		t.Errorf("output after the interrupt:\n%s\nwant the RSS", rest.String())
	}
}
