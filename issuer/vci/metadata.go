package vci

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/statuslist"
)

// Endpoints are the URLs of the issuer's endpoints, for its metadata.
type Endpoints struct {
	Credential, Nonce, Deferred, Notification string
}

// Metadata is the credential issuer metadata (§12.2.4).
func (s *Service) Metadata(ep Endpoints) map[string]any {
	configs := map[string]any{}
	for _, id := range s.order {
		t := s.types[id]
		display := make([]map[string]any, 0, len(t.Display))
		for _, d := range t.Display {
			m := map[string]any{"name": d.Name, "locale": d.Locale}
			if d.Description != "" {
				m["description"] = d.Description
			}
			if d.LogoURI != "" {
				m["logo"] = map[string]any{"uri": d.LogoURI, "alt_text": d.LogoAlt}
			}
			if d.BackgroundColor != "" {
				m["background_color"] = d.BackgroundColor
			}
			if d.TextColor != "" {
				m["text_color"] = d.TextColor
			}
			display = append(display, m)
		}
		claims := make([]map[string]any, 0, len(t.Claims))
		for _, c := range t.Claims {
			m := map[string]any{"path": c.Path}
			if c.Mandatory {
				m["mandatory"] = true
			}
			var ds []map[string]string
			for _, d := range c.Display {
				ds = append(ds, map[string]string{"name": d.Label, "locale": d.Locale})
			}
			if len(ds) > 0 {
				m["display"] = ds
			}
			claims = append(claims, m)
		}
		configs[id] = map[string]any{
			"format": Format,
			"scope":  id,
			"vct":    t.VCT,
			"cryptographic_binding_methods_supported": []string{"jwk"},
			"credential_signing_alg_values_supported": []string{"ES256"},
			"proof_types_supported":                   map[string]any{"jwt": map[string]any{"proof_signing_alg_values_supported": ProofAlgs}},
			"credential_metadata":                     map[string]any{"display": display, "claims": claims},
		}
	}
	m := map[string]any{
		"credential_issuer":                   s.cfg.Issuer,
		"credential_endpoint":                 ep.Credential,
		"nonce_endpoint":                      ep.Nonce,
		"deferred_credential_endpoint":        ep.Deferred,
		"notification_endpoint":               ep.Notification,
		"batch_credential_issuance":           map[string]any{"batch_size": s.cfg.BatchSize},
		"credential_configurations_supported": configs,
		"display": []map[string]string{
			{"name": "Cédula — emisor de credenciales del Estado", "locale": "es"},
			{"name": "Cedula — the government's credential issuer", "locale": "en"},
		},
	}
	if k := s.cfg.Encryption; k != nil {
		m["credential_request_encryption"] = map[string]any{"jwks": map[string]any{"keys": []json.RawMessage{k.PublicJWK()}},
			"enc_values_supported": jose.EncAlgs, "encryption_required": false}
		m["credential_response_encryption"] = map[string]any{"alg_values_supported": []string{"ECDH-ES"},
			"enc_values_supported": jose.EncAlgs, "encryption_required": false}
	}
	return m
}

// IssuerMetadata is the JWT VC Issuer Metadata document (SD-JWT VC §5):
// the issuer and the keys its credentials and status lists verify with,
// retired ones included.
func (s *Service) IssuerMetadata(ctx context.Context) ([]byte, error) {
	pubs, err := s.cfg.Keys.Verification(ctx, IssuerRing)
	if err != nil {
		return nil, err
	}
	set, err := jose.JWKS(pubs...)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"issuer": s.cfg.Issuer, "jwks": json.RawMessage(set)})
}

// ListToken is a signed status list token.
type ListToken struct {
	JWT     string
	Version int64
	Updated time.Time
	// Expires is the token's exp.
	Expires time.Time
}

type cachedList struct {
	mu  sync.Mutex
	tok ListToken
}

// StatusListToken returns the Status List Token of list id (typ
// statuslist+jwt): signed again only when the list changed since the last
// one, or when that one is past half its life. Every call reads the
// list's version, so a change is served as soon as it commits.
func (s *Service) StatusListToken(ctx context.Context, id string) (ListToken, error) {
	if len(id) > 64 || strings.ContainsAny(id, "/?#") {
		return ListToken{}, fmt.Errorf("status list: %w", ErrNotFound)
	}
	l, err := s.cfg.Store.StatusList(ctx, id)
	if err != nil {
		return ListToken{}, err
	}
	v, _ := s.lists.LoadOrStore(id, &cachedList{})
	cl := v.(*cachedList)
	cl.mu.Lock()
	defer cl.mu.Unlock()
	now := s.Now()
	lifetime := 24 * time.Hour
	if cl.tok.JWT != "" && cl.tok.Version == l.Version && now.Before(cl.tok.Expires.Add(-lifetime/2)) {
		return cl.tok, nil
	}
	list, err := statuslist.New(l.Bits, l.Size)
	if err != nil {
		return ListToken{}, err
	}
	for idx, st := range l.Set {
		if err := list.Set(idx, st); err != nil {
			return ListToken{}, fmt.Errorf("status list %s: %w", id, err)
		}
	}
	lst, err := list.Encode()
	if err != nil {
		return ListToken{}, err
	}
	key, err := s.cfg.Keys.Active(ctx, IssuerRing, keys.ES256)
	if err != nil {
		return ListToken{}, err
	}
	iat := now.Truncate(time.Second)
	exp := iat.Add(lifetime)
	tok := statuslist.Token{Sub: s.cfg.StatusListURI(id), IssuedAt: iat.Unix(), Expiry: exp.Unix(), TTL: int64(s.cfg.ListTTL / time.Second),
		StatusList: statuslist.Claim{Bits: l.Bits, Lst: lst}}
	jwt, err := jose.SignJSON(ctx, key, tok, map[string]any{"typ": statuslist.TokenType})
	if err != nil {
		return ListToken{}, err
	}
	cl.tok = ListToken{JWT: jwt, Version: l.Version, Updated: l.Updated, Expires: exp}
	return cl.tok, nil
}

// ListTTL is how long a verifier may cache a status list token.
func (s *Service) ListTTL() time.Duration { return s.cfg.ListTTL }
