package oidcop

import (
	"context"

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
}

// Discovery serves OIDC Discovery §3 metadata with pairwise subjects, PAR
// and DPoP advertised.
func (s *server) Discovery(ctx context.Context, r *op.Request[struct{}]) (*op.Response, error) {
	resp, err := s.LegacyServer.Discovery(ctx, r)
	if err != nil {
		return nil, err
	}
	cfg, ok := resp.Data.(*oidc.DiscoveryConfiguration)
	if !ok {
		return resp, nil
	}
	cfg.SubjectTypesSupported = []string{"pairwise", "public"}
	cfg.RequestURIParameterSupported = true
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
		DPoPAlgs:               []string{"ES256", "EdDSA", "RS256", "PS256", "ES384"},
		IssParameter:           false,
	}
	return resp, nil
}
