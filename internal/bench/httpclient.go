package bench

import (
	"net"
	"net/http"
	"time"
)

// NewHTTPClient returns an HTTP client tuned for load generation: HTTP/1.1
// with keep-alives and enough idle connections per host for every worker to
// keep its own, so that the run measures requests, not TCP handshakes.
func NewHTTPClient(concurrency int) *http.Client {
	concurrency = max(concurrency, 1)
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment,
			DialContext: (&net.Dialer{
				Timeout:   5 * time.Second,
				KeepAlive: 30 * time.Second,
			}).DialContext,
			MaxIdleConns:          2 * concurrency,
			MaxIdleConnsPerHost:   2 * concurrency,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   5 * time.Second,
			ExpectContinueTimeout: time.Second,
			DisableCompression:    true,
		},
		// A redirect from a token endpoint is a misconfiguration to report.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
