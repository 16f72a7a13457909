package wallet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// The wallet fetches what offers and issuers name — offers by reference,
// metadata, keys, status lists — from inside the service's network. So
// that an offer cannot make it reach what only the service should (its
// admin listener, a cloud metadata endpoint, a database), the client it
// makes for itself connects to public addresses only: the check runs on
// the address actually dialled, after name resolution, for every
// connection, redirects included, so a name that resolves to a private
// address (or starts to) is refused too. Redirects must stay on https.

// ErrAddress is the refusal of a non-public address.
var ErrAddress = errors.New("wallet: the address is not a public one")

// publicOnly refuses connections to loopback, private, link-local,
// multicast and unspecified addresses (and IPv4-mapped forms of them).
func publicOnly(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrAddress, address)
	}
	ip := ap.Addr().Unmap()
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() ||
		ip.IsMulticast() || ip.IsUnspecified() || cgnat.Contains(ip) {
		return fmt.Errorf("%w: %s", ErrAddress, ip)
	}
	return nil
}

// cgnat is the shared address space of RFC 6598, private in practice.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// newHTTPClient is the wallet's client for issuers: a 10 s timeout, and,
// unless allowHTTP (a developer's server), public addresses only and
// https redirects only.
func newHTTPClient(allowHTTP bool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if !allowHTTP {
		d.Control = publicOnly
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
	tr.Proxy = nil // a proxy would dial for us, past the check
	return &http.Client{Timeout: 10 * time.Second, Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("wallet: too many redirects")
		}
		if !allowHTTP && req.URL.Scheme != "https" {
			return errors.New("wallet: a redirect away from https")
		}
		return nil
	}}
}
