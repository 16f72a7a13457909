package wallet

import (
	"errors"
	"net/http"
	"time"

	"github.com/cedula/cedula/internal/netguard"
)

// The wallet fetches what offers and issuers name — offers by reference,
// metadata, keys, status lists — from inside the service's network. So
// that an offer cannot make it reach what only the service should, the
// client it makes for itself connects to public addresses only
// (internal/netguard). Redirects must stay on https.

// ErrAddress is the refusal of a non-public address (netguard's).
var ErrAddress = netguard.ErrAddress

// newHTTPClient is the wallet's client for issuers: a 10 s timeout, and,
// unless allowHTTP (a developer's server), public addresses only and
// https redirects only.
func newHTTPClient(allowHTTP bool) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: netguard.Transport(allowHTTP), CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("wallet: too many redirects")
		}
		if !allowHTTP && req.URL.Scheme != "https" {
			return errors.New("wallet: a redirect away from https")
		}
		return nil
	}}
}
