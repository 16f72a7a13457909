package sdjwtvc

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Defaults of a Resolver's settings.
const (
	DefaultKeysTTL      = 5 * time.Minute
	DefaultKeysRefetch  = time.Minute
	DefaultTypeTTL      = time.Hour
	DefaultStatusMinTTL = 30 * time.Second
	DefaultStatusMaxTTL = time.Hour
	DefaultMaxBody      = 1 << 20
	DefaultTimeout      = 10 * time.Second
)

// maxEntries bounds each cache; a full cache is emptied (its keys are
// issuers the trust list admits and the URIs they sign, so this is a
// guard, not a policy).
const maxEntries = 4096

// Resolver fetches, with caches, what verifying an issuer's SD-JWT VCs
// needs: the issuer's keys, type metadata and status lists. The zero value
// is usable; set fields before first use and do not change them after.
// Safe for concurrent use.
type Resolver struct {
	// Client makes the requests (nil: a client of its own). Whatever it
	// is, redirects are followed only on the same host and scheme, at
	// most three, and a client without a Timeout gets DefaultTimeout.
	Client *http.Client
	// AllowHTTP admits http URLs (tests on loopback); otherwise only
	// https URLs are fetched.
	AllowHTTP bool
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Roots, when set, are the trust anchors of issuers' x5c chains: an
	// issuer-signed JWT with an x5c header is then verified with its leaf
	// certificate (SD-JWT VC §3.5). Nil: x5c is ignored and the issuer's
	// published keys are used.
	Roots *x509.CertPool

	// KeysTTL is how long an issuer's keys are cached (DefaultKeysTTL);
	// KeysRefetch how soon they may be fetched again when a token names a
	// kid they lack (DefaultKeysRefetch).
	KeysTTL, KeysRefetch time.Duration
	// TypeTTL is how long a type metadata document is cached
	// (DefaultTypeTTL).
	TypeTTL time.Duration
	// StatusMinTTL and StatusMaxTTL bound how long a status list is
	// cached: its ttl (the lower bound when it has none), within these,
	// never past its exp.
	StatusMinTTL, StatusMaxTTL time.Duration
	// MaxBody bounds every response body (DefaultMaxBody).
	MaxBody int64

	once   sync.Once
	client *http.Client

	mu    sync.Mutex
	keys  map[string]keysEntry
	types map[string]typeEntry
	lists map[string]listEntry
}

func (r *Resolver) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func (r *Resolver) httpClient() *http.Client {
	r.once.Do(func() {
		c := http.Client{}
		if r.Client != nil {
			c = *r.Client
		}
		if c.Timeout == 0 {
			c.Timeout = DefaultTimeout
		}
		c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("too many redirects")
			}
			if req.URL.Host != via[0].URL.Host || req.URL.Scheme != via[0].URL.Scheme {
				return errors.New("a redirect to another host or scheme")
			}
			return nil
		}
		r.client = &c
	})
	return r.client
}

// checkURL admits an absolute https URL (http too with AllowHTTP), with a
// host, without user information or fragment.
func (r *Resolver) checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	switch {
	case u.Scheme != "https" && !(r.AllowHTTP && u.Scheme == "http"):
		return nil, errors.New("not an https URL")
	case u.Host == "" || u.User != nil || u.Fragment != "" || u.Opaque != "":
		return nil, errors.New("not a URL with a host, and without user information or fragment")
	}
	return u, nil
}

// get fetches raw with accept, bounded in size, and returns the body of a
// 200 answer.
func (r *Resolver) get(ctx context.Context, raw, accept string) ([]byte, error) {
	if _, err := r.checkURL(raw); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	res, err := r.httpClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("answered %d", res.StatusCode)
	}
	limit := orDefault(r.MaxBody, DefaultMaxBody)
	b, err := io.ReadAll(io.LimitReader(res.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("the answer is larger than %d bytes", limit)
	}
	return b, nil
}

// wellKnown inserts /.well-known/name between the host and the path of id
// (SD-JWT VC §5.1, as RFC 8414 §3.1 does), a trailing slash dropped.
func wellKnown(u *url.URL, name string) string {
	return u.Scheme + "://" + u.Host + "/.well-known/" + name + strings.TrimSuffix(u.EscapedPath(), "/")
}

// decodeStrict decodes one JSON value of b into out, nothing after it.
func decodeStrict(b []byte, out any) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(out); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

// put stores v under k in *m, emptying a full map first.
func put[V any](m *map[string]V, k string, v V) {
	if *m == nil || len(*m) >= maxEntries {
		*m = map[string]V{}
	}
	(*m)[k] = v
}
