package vci

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/credential"
)

// SourceRequest asks an attribute source for a citizen's claims of one
// credential type.
type SourceRequest struct {
	TypeID    string
	CitizenID string
	// Subject is the citizen's pairwise sub at the issuing agency: what
	// the agency's own back end knows them by.
	Subject string
	// Citizen is the citizen's record in Cedula's registry.
	Citizen issuer.Citizen
	Now     time.Time
}

// Source answers a citizen's claims for a credential type: a JSON object
// (as encoding/json decodes it) without the issuer's own claims. Errors
// are ErrNoRecord, ErrSourceTimeout or ErrSourceFailed.
type Source interface {
	Claims(ctx context.Context, r SourceRequest) (map[string]any, error)
}

// SourceFor returns the source of a type: its agency back end, or the
// demo registry.
func SourceFor(t credential.Type, client *http.Client) Source {
	if t.Source == nil {
		return DemoRegistry{}
	}
	s := &HTTPSource{URL: t.Source.URL, Timeout: t.Source.Timeout, Retries: 2, Client: client}
	if t.Source.Retries != nil {
		s.Retries = *t.Source.Retries
	}
	return s
}

// HTTPSource calls an agency's back end: POST URL with the JSON body
// {"sub": …, "credential_configuration_id": …}; a 200 answer is the claims
// object, a 404 says the agency has no record of the citizen. Network
// errors and 5xx answers are retried (with a short pause that doubles);
// every call has its own timeout.
type HTTPSource struct {
	URL     string
	Timeout time.Duration // each call; default 3s
	Retries int
	Client  *http.Client
}

// maxSourceBody bounds a back end's answer.
const maxSourceBody = 256 << 10

func (s *HTTPSource) Claims(ctx context.Context, r SourceRequest) (map[string]any, error) {
	body, _ := json.Marshal(map[string]string{"sub": r.Subject, "credential_configuration_id": r.TypeID})
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	client := s.Client
	if client == nil {
		client = http.DefaultClient
	}
	pause := 100 * time.Millisecond
	var last error
	for try := 0; try <= s.Retries; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("%w: %v", ErrSourceTimeout, ctx.Err())
			case <-time.After(pause):
			}
			pause *= 2
		}
		claims, retry, err := s.call(ctx, client, body, timeout)
		if err == nil || !retry {
			return claims, err
		}
		last = err
	}
	return nil, last
}

// call makes one call; retry says whether another try may succeed.
func (s *HTTPSource) call(ctx context.Context, client *http.Client, body []byte, timeout time.Duration) (map[string]any, bool, error) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return nil, false, fmt.Errorf("%w: %v", ErrSourceFailed, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || cctx.Err() != nil {
			return nil, ctx.Err() == nil, fmt.Errorf("%w (after %v)", ErrSourceTimeout, timeout)
		}
		return nil, true, fmt.Errorf("%w: %v", ErrSourceFailed, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxSourceBody+1))
	if err != nil {
		if cctx.Err() != nil {
			return nil, ctx.Err() == nil, fmt.Errorf("%w (after %v)", ErrSourceTimeout, timeout)
		}
		return nil, true, fmt.Errorf("%w: reading the answer: %v", ErrSourceFailed, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, false, ErrNoRecord
	case resp.StatusCode >= 500:
		return nil, true, fmt.Errorf("%w: status %d", ErrSourceFailed, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, false, fmt.Errorf("%w: status %d", ErrSourceFailed, resp.StatusCode)
	case len(b) > maxSourceBody:
		return nil, false, fmt.Errorf("%w: the answer is larger than %d bytes", ErrSourceFailed, maxSourceBody)
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil || claims == nil {
		return nil, false, fmt.Errorf("%w: the answer is not a JSON object", ErrSourceFailed)
	}
	return claims, false, nil
}

// DemoRegistry is the embedded registry of the demo: for every citizen
// it answers fictional attributes derived from the citizen's record and
// identifier (the same every time), and every citizen represents one of
// a few fictional companies.
type DemoRegistry struct{}

var (
	demoStreets = []string{"Calle Mayor 12", "Avenida de la Constitución 3", "Plaza del Sol 7", "Calle de la Luna 21", "Paseo del Río 45"}
	demoTowns   = []struct{ Locality, PostalCode string }{{"Villaverde", "28041"}, {"Montealto", "41013"}, {"Puerto Claro", "11002"}, {"Valle Hondo", "50012"}}
	demoFirms   = []struct{ Name, ID string }{{"Cooperativa Olivar del Sur", "F41000001"}, {"Talleres Navarro S.L.", "B50000002"}, {"Panadería La Espiga S.A.", "A11000003"}}
)

func (DemoRegistry) Claims(_ context.Context, r SourceRequest) (map[string]any, error) {
	h := sha256.Sum256([]byte("cedula demo registry\x00" + r.CitizenID))
	pick := func(i, n int) int { return int(binary.BigEndian.Uint16(h[2*i:]) % uint16(n)) }
	town := demoTowns[pick(0, len(demoTowns))]
	address := map[string]any{"street_address": demoStreets[pick(1, len(demoStreets))], "locality": town.Locality,
		"postal_code": town.PostalCode, "country": "ES"}
	switch r.TypeID {
	case "pid":
		c := r.Citizen
		birth, err := time.Parse(time.DateOnly, c.Birthdate)
		if err != nil {
			return nil, fmt.Errorf("%w: the registry holds no birthdate", ErrNoRecord)
		}
		age := ageOn(birth, r.Now)
		return map[string]any{
			"given_name": c.GivenName, "family_name": c.FamilyName, "birthdate": c.Birthdate,
			"age_over_18": age >= 18, "age_over_65": age >= 65, "age_in_years": age,
			"nationalities":  []any{"ES"},
			"place_of_birth": map[string]any{"locality": demoTowns[pick(2, len(demoTowns))].Locality, "country": "ES"},
			"address":        address,
			"personal_administrative_number": fmt.Sprintf("%08d%c", binary.BigEndian.Uint32(h[8:])%100000000,
				"TRWAGMYFPDXBNJZSQVHLCKE"[binary.BigEndian.Uint32(h[8:])%100000000%23]),
			"issuing_authority": "Registro Civil (demostración)", "issuing_country": "ES",
		}, nil
	case "residence":
		return map[string]any{"address": map[string]any{"street_address": address["street_address"], "locality": address["locality"]},
			"since": strconv.Itoa(2000+pick(3, 24)) + "-01-15", "municipality": town.Locality}, nil
	case "business-representation":
		firm := demoFirms[pick(4, len(demoFirms))]
		return map[string]any{"legal_name": firm.Name, "company_id": firm.ID, "role": "administrador",
			"powers": []any{"tax_filing", "procurement"}, "valid_until": r.Now.AddDate(1, 0, 0).Format(time.DateOnly)}, nil
	}
	return nil, ErrNoRecord
}

// ageOn is the age in whole years on day now of someone born on birth.
func ageOn(birth, now time.Time) int {
	age := now.Year() - birth.Year()
	if now.Month() < birth.Month() || now.Month() == birth.Month() && now.Day() < birth.Day() {
		age--
	}
	return age
}
