package wallet

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
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
		err := publicOnly("tcp", addr, nil)
		if public != (err == nil) {
			t.Errorf("%s: %v, want public=%v", addr, err, public)
		}
		if err != nil && !errors.Is(err, ErrAddress) {
			t.Errorf("%s: %v is not ErrAddress", addr, err)
		}
	}
}

// TestOfferCannotReachInside: an offer by reference to an address inside
// the service's network is never fetched.
func TestOfferCannotReachInside(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	hc := newHTTPClient(false)
	hc.Transport.(*http.Transport).TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
	s := &Service{cfg: Config{HTTP: hc, Now: nil}}
	_, err := s.resolve(t.Context(), "openid-credential-offer://?credential_offer_uri="+url.QueryEscape(srv.URL+"/offer"))
	if !errors.Is(err, ErrIssuer) || !errors.Is(err, ErrAddress) {
		t.Errorf("an offer on loopback: %v, want ErrIssuer caused by ErrAddress", err)
	}
	if hits.Load() != 0 {
		t.Errorf("%d requests reached the loopback server", hits.Load())
	}
	// The same client with AllowHTTP (a developer's server) reaches it.
	dev := newHTTPClient(true)
	dev.Transport.(*http.Transport).TLSClientConfig = hc.Transport.(*http.Transport).TLSClientConfig
	if res, err := dev.Get(srv.URL); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("a developer's client: %v", err)
	}
}
