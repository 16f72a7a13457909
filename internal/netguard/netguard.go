// Package netguard keeps the service's outbound requests that others
// choose the address of — an offer's issuer, an agency's webhook — away
// from what only the service should reach (its admin listener, a cloud
// metadata endpoint, a database): a dialer that connects to public
// addresses only. The check runs on the address actually dialled, after
// name resolution, for every connection, redirects included, so a name
// that resolves to a private address (or starts to) is refused too.
package netguard

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

// ErrAddress is the refusal of a non-public address.
var ErrAddress = errors.New("netguard: the address is not a public one")

// PublicOnly, a net.Dialer Control, refuses connections to loopback,
// private, link-local, multicast and unspecified addresses, the shared
// address space of RFC 6598, and IPv4-mapped forms of them.
func PublicOnly(_, address string, _ syscall.RawConn) error {
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

// Transport is an HTTP transport that dials public addresses only, unless
// anywhere (a developer's server on loopback), and never through a proxy
// (a proxy would dial for it, past the check).
func Transport(anywhere bool) *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if !anywhere {
		d.Control = PublicOnly
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
	tr.Proxy = nil
	return tr
}
