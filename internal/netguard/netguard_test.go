package netguard

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestPublicOnly(t *testing.T) {
	for addr, public := range map[string]bool{
		"8.8.8.8:443": true, "[2001:4860:4860::8888]:443": true,
		"127.0.0.1:443": false, "10.1.2.3:443": false, "192.168.0.1:443": false, "172.16.0.1:443": false,
		"169.254.169.254:80": false, "100.64.0.1:443": false, "0.0.0.0:443": false, "224.0.0.1:443": false,
		"[::1]:443": false, "[fc00::1]:443": false, "[fe80::1]:443": false, "[::ffff:127.0.0.1]:443": false, "[::]:443": false,
		"not an address": false,
	} {
		err := PublicOnly("tcp", addr, nil)
		if public != (err == nil) {
			t.Errorf("%s: %v, want public=%v", addr, err, public)
		}
		if err != nil && !errors.Is(err, ErrAddress) {
			t.Errorf("%s: %v is not ErrAddress", addr, err)
		}
	}
}

// TestTransport: the guarded transport does not reach a loopback server;
// the one for a developer's server does.
func TestTransport(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer srv.Close()
	if _, err := (&http.Client{Transport: Transport(false)}).Get(srv.URL); !errors.Is(err, ErrAddress) || hits != 0 {
		t.Errorf("guarded: %v, %d hits; want ErrAddress and none", err, hits)
	}
	if res, err := (&http.Client{Transport: Transport(true)}).Get(srv.URL); err != nil || res.StatusCode != http.StatusOK || hits != 1 {
		t.Errorf("anywhere: %v, %d hits", err, hits)
	}
}
