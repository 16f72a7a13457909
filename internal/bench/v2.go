package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
)

// ES256Check is the unit of V₂, the second reference: one ES256
// verification of a fixed compact JWS (RFC 7515 §5.2 with RFC 7518
// §3.4) — its signing input hashed with SHA-256 and the signature checked
// against the P-256 key — with nothing around it: no parsing, no JSON, no
// allocation beyond what crypto/ecdsa does. A presentation costs at least
// two of these (the issuer's signature and the key binding).
type ES256Check struct {
	pub   *ecdsa.PublicKey
	input []byte
	r, s  *big.Int
}

// NewES256Check signs a KB-JWT-sized JWS with a fresh P-256 key and
// returns the check of it.
func NewES256Check() (*ES256Check, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	input, err := jose.SigningInput(map[string]any{"alg": "ES256", "typ": "kb+jwt"}, map[string]any{
		"aud": "x509_san_dns:verifier.example", "nonce": "bench-v2-nonce-0123456789abcdef", "iat": time.Now().Unix(),
		"sd_hash": "wpDrJbWXXkBDWLtmrc0uLlKa87x3ipmm9mqbNk4VDyM"})
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, priv, h[:])
	if err != nil {
		return nil, err
	}
	// RFC 7518 §3.4: R and S, 32 octets each, big-endian.
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	compact := input + "." + base64.RawURLEncoding.EncodeToString(sig)
	// The package every verification of Cedula's goes through must
	// accept the JWS too: V₂ checks what the server checks.
	jwk, err := jose.PublicJWK(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	if _, err := jose.VerifyJWK([]byte(compact), jwk, keys.ES256); err != nil {
		return nil, fmt.Errorf("bench: V₂'s JWS: %w", err)
	}
	return &ES256Check{pub: &priv.PublicKey, input: []byte(input), r: r, s: s}, nil
}

// Verify verifies the JWS once and reports whether it holds. It is safe
// for concurrent use.
func (c *ES256Check) Verify() bool {
	h := sha256.Sum256(c.input)
	return ecdsa.Verify(c.pub, h[:], c.r, c.s)
}

// V2 is what MeasureV2 measured.
type V2 struct {
	// Rate is ES256 verifications per second over all workers.
	Rate    float64
	Workers int
	Elapsed time.Duration
}

func (v V2) String() string {
	return fmt.Sprintf("%.0f ES256 verifications/s (%d goroutines, %.1fs)", v.Rate, v.Workers, v.Elapsed.Seconds())
}

// MeasureV2 measures V₂: c verified in a closed loop by workers
// goroutines (runtime.NumCPU() when 0), all cores busy, for d.
func MeasureV2(ctx context.Context, c *ES256Check, workers int, d time.Duration) (V2, error) {
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	if d <= 0 {
		return V2{}, fmt.Errorf("bench: V₂ duration %v: want more than 0", d)
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var n atomic.Int64
	var bad atomic.Bool
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			var mine int64
			// Check the clock every few verifications, not each time.
			for ctx.Err() == nil {
				for range 16 {
					if !c.Verify() {
						bad.Store(true)
					}
				}
				mine += 16
			}
			n.Add(mine)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if bad.Load() {
		return V2{}, errors.New("bench: V₂: a verification failed")
	}
	if err := parent.Err(); err != nil {
		return V2{}, fmt.Errorf("bench: V₂ stopped early: %w", err)
	}
	return V2{Rate: float64(n.Load()) / elapsed.Seconds(), Workers: workers, Elapsed: elapsed}, nil
}
