package oidcop

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// discovery adds to zitadel's metadata what Cedula implements on top.
type discovery struct {
	*oidc.DiscoveryConfiguration
	// RFC 9126 §5
	PAREndpoint string `json:"pushed_authorization_request_endpoint"`
	RequirePAR  bool   `json:"require_pushed_authorization_requests"`
	// RFC 9449 §5.1
	DPoPAlgs []string `json:"dpop_signing_alg_values_supported"`
	// RFC 9207 §3
	IssParameter bool `json:"authorization_response_iss_parameter_supported"`
	// Members of other specifications (Config.Metadata).
	extra map[string]any
}

// MarshalJSON writes the metadata with the extra members.
func (d discovery) MarshalJSON() ([]byte, error) {
	type plain discovery
	b, err := json.Marshal(plain(d))
	if err != nil || len(d.extra) == 0 {
		return b, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range d.extra {
		m[k] = v
	}
	return json.Marshal(m)
}

// Discovery serves OIDC Discovery §3 metadata that advertises only what
// works: the code flow (passkey login leaves no place for implicit or
// password grants), the grants the token endpoint serves, pairwise
// subjects, PAR, DPoP, back-channel logout with sid, and iss in every
// authorization response.
func (s *server) Discovery(ctx context.Context, r *op.Request[struct{}]) (*op.Response, error) {
	resp, err := s.LegacyServer.Discovery(ctx, r)
	if err != nil {
		return nil, err
	}
	cfg, ok := resp.Data.(*oidc.DiscoveryConfiguration)
	if !ok {
		return resp, nil
	}
	cfg.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	cfg.ResponseModesSupported = responseModes
	cfg.GrantTypesSupported = nil
	for _, g := range grantTypes {
		cfg.GrantTypesSupported = append(cfg.GrantTypesSupported, oidc.GrantType(g))
	}
	for _, g := range slices.Sorted(maps.Keys(s.grants)) {
		cfg.GrantTypesSupported = append(cfg.GrantTypesSupported, oidc.GrantType(g))
	}
	cfg.DeviceAuthorizationEndpoint = ""
	cfg.CheckSessionIframe = ""
	cfg.RequestParameterSupported = false
	cfg.RequestObjectSigningAlgValuesSupported = nil
	cfg.BackChannelLogoutSupported = true
	cfg.BackChannelLogoutSessionSupported = true
	cfg.SubjectTypesSupported = []string{"pairwise", "public"}
	cfg.ClaimsParameterSupported = s.bridge != nil // OIDC Core §5.5, for verified_claims
	cfg.RequestURIParameterSupported = false       // request objects by reference (OIDC Core §6.2) are not fetched; PAR has its own metadata
	cfg.TokenEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodPrivateKeyJWT, oidc.AuthMethodBasic, oidc.AuthMethodNone}
	cfg.IntrospectionEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodPrivateKeyJWT, oidc.AuthMethodBasic}
	cfg.RevocationEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodPrivateKeyJWT, oidc.AuthMethodBasic, oidc.AuthMethodNone}
	clientAlgs := []string{"ES256", "EdDSA", "RS256"}
	cfg.TokenEndpointAuthSigningAlgValuesSupported = clientAlgs
	cfg.IntrospectionEndpointAuthSigningAlgValuesSupported = clientAlgs
	cfg.RevocationEndpointAuthSigningAlgValuesSupported = clientAlgs
	resp.Data = discovery{
		DiscoveryConfiguration: cfg,
		PAREndpoint:            s.issuer + parPath,
		RequirePAR:             s.requirePAR,
		DPoPAlgs:               strings.Fields(dpopAlgs),
		IssParameter:           true,
		extra:                  s.metadata,
	}
	return resp, nil
}
