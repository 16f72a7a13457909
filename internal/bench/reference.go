package bench

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/keys/localkeys"
)

// ReferencePath is the route of the reference server's one handler.
const ReferencePath = "/sign"

// Reference is the yardstick J: an echo server on loopback whose one
// handler issues an SD-JWT-sized credential — eight fresh disclosures, their
// digests in "_sd", signed ES256 by a key from a throwaway local keystore —
// and returns it as JSON. Loaded by Run at the same concurrency as a real
// endpoint, it tells how much of this machine's signing throughput the
// endpoint reaches.
type Reference struct {
	// URL is the address of the signing handler.
	URL string

	key    keys.Key
	holder json.RawMessage // the "cnf" key, as a JWK
	e      *echo.Echo
	srv    *http.Server
	ln     net.Listener
	served chan error
}

// NewReference returns the reference handler without starting a server, for
// benchmarks that call it in-process; StartReference serves it.
func NewReference(ctx context.Context) (*Reference, error) {
	dir, err := os.MkdirTemp("", "cedula-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: reference keystore: %w", err)
	}
	defer os.RemoveAll(dir)
	kek := make([]byte, localkeys.KEKSize)
	if _, err := rand.Read(kek); err != nil {
		return nil, err
	}
	ks, err := localkeys.Open(filepath.Join(dir, "keystore.json"), localkeys.WithKEK(kek))
	if err != nil {
		return nil, fmt.Errorf("bench: reference keystore: %w", err)
	}
	key, err := ks.Active(ctx, "bench-reference", keys.ES256)
	if err != nil {
		return nil, fmt.Errorf("bench: reference key: %w", err)
	}
	// The holder's key only appears in "cnf"; its private half is unused.
	holder, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	cnf, err := jose.PublicJWK(&holder.PublicKey)
	if err != nil {
		return nil, err
	}
	r := &Reference{key: key, holder: cnf, e: echo.New()}
	r.e.HideBanner, r.e.HidePort = true, true
	r.e.POST(ReferencePath, r.handle)
	return r, nil
}

// StartReference starts the reference server on 127.0.0.1 at a free port.
// Close stops it.
func StartReference(ctx context.Context) (*Reference, error) {
	return ServeReference(ctx, "127.0.0.1:0")
}

// ServeReference starts the reference server on addr, for load generators
// outside this process (POST to its URL, any body). Close stops it.
func ServeReference(ctx context.Context, addr string) (*Reference, error) {
	r, err := NewReference(ctx)
	if err != nil {
		return nil, err
	}
	r.ln, err = net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("bench: reference server: %w", err)
	}
	r.srv = &http.Server{Handler: r.e, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}
	r.served = make(chan error, 1)
	go func() { r.served <- r.srv.Serve(r.ln) }()
	r.URL = "http://" + r.ln.Addr().String() + ReferencePath
	return r, nil
}

// Handler returns the reference's HTTP handler.
func (r *Reference) Handler() http.Handler { return r.e }

// Close stops the server, waiting up to 5 seconds for requests in flight.
func (r *Reference) Close() error {
	if r.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := r.srv.Shutdown(ctx)
	if serr := <-r.served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// Op returns the operation that Run repeats against a started reference:
// one POST to its handler with client, expecting a credential back.
func (r *Reference) Op(client *http.Client) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"credential":"ey`)) {
			return fmt.Errorf("reference: status %d: %s", resp.StatusCode, oneLine(string(body)))
		}
		return nil
	}
}

// referenceResponse is the handler's JSON body.
type referenceResponse struct {
	Credential string `json:"credential"`
}

func (r *Reference) handle(c echo.Context) error {
	sdjwt, err := r.Issue(c.Request().Context(), time.Now())
	if err != nil {
		return echo.NewHTTPError(http.StatusInternalServerError).SetInternal(err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, referenceResponse{Credential: sdjwt})
}

// referenceClaims are the selectively disclosable claims of the reference
// credential: a person-identification-data-like set.
var referenceClaims = []struct {
	name  string
	value any
}{
	{"given_name", "María José"},
	{"family_name", "García Fernández"},
	{"birthdate", "1987-04-12"},
	{"nationalities", []string{"ES"}},
	{"place_of_birth", map[string]string{"locality": "Sevilla", "country": "ES"}},
	{"address", map[string]string{"street_address": "Calle de Alcalá 123, 4º B", "locality": "Madrid", "postal_code": "28009", "country": "ES"}},
	{"personal_administrative_number", "12345678Z"},
	{"age_over_18", true},
}

// Issue builds and signs one reference SD-JWT VC (RFC 9901 §4): fresh
// salts, eight disclosures, their SHA-256 digests in "_sd". It returns the
// issuer-signed JWT followed by the disclosures, "~"-separated.
func (r *Reference) Issue(ctx context.Context, now time.Time) (string, error) {
	disclosures := make([]string, len(referenceClaims))
	digests := make([]string, len(referenceClaims))
	salt := make([]byte, 16*len(referenceClaims))
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	for i, c := range referenceClaims {
		// RFC 9901 §4.2.1: [salt, claim name, claim value].
		arr, err := json.Marshal([]any{base64.RawURLEncoding.EncodeToString(salt[16*i : 16*(i+1)]), c.name, c.value})
		if err != nil {
			return "", err
		}
		disclosures[i] = base64.RawURLEncoding.EncodeToString(arr)
		// RFC 9901 §4.2.3: digest over the disclosure's ASCII form.
		sum := sha256.Sum256([]byte(disclosures[i]))
		digests[i] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	slices.Sort(digests) // order carries no information (RFC 9901 §4.2.4.1)
	claims := map[string]any{
		"iss":     "https://bench.cedula.invalid/issuer",
		"iat":     now.Unix(),
		"exp":     now.Add(365 * 24 * time.Hour).Unix(),
		"vct":     "urn:eudi:pid:1",
		"cnf":     map[string]any{"jwk": r.holder},
		"_sd":     digests,
		"_sd_alg": "sha-256",
	}
	jwt, err := jose.SignJSON(ctx, r.key, claims, map[string]any{"typ": "dc+sd-jwt"})
	if err != nil {
		return "", err
	}
	return jwt + "~" + strings.Join(disclosures, "~") + "~", nil
}
