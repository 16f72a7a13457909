package wallet

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
)

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
