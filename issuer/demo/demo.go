// Package demo is the demo set-up of `cedula serve --demo`: a demo agency
// (a public client whose relying party, built on coreos/go-oidc as an
// agency would build one, Cedula itself serves at /demo), its back-end
// clients for the benchmarks, its purpose, and fictional citizens with
// enrolment links. Nothing here runs outside demo mode.
package demo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/cedula/cedula/consent"
	"github.com/cedula/cedula/internal/httpapi"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/problem"
	"github.com/cedula/cedula/internal/random"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/oidcop"
)

// PurposeID is the demo agency's purpose: signing citizens in with their
// name and email, on their consent.
const PurposeID = "demo-sign-in"

// Purpose is the demo agency's purpose, for the registry.
func Purpose(publicURL string) consent.Purpose {
	return consent.Purpose{
		ID: PurposeID,
		Name: consent.Text{ES: "Iniciar sesión en la agencia de demostración",
			EN: "Signing in to the demo agency"},
		Description: consent.Text{
			ES: "La agencia de demostración recibe su nombre, fecha de nacimiento y correo electrónico para saludarle y escribirle.",
			EN: "The demo agency receives your name, date of birth and email address to greet you and write to you."},
		Controller: ClientID, LegalBasis: consent.Consent, Categories: []string{"profile", "email"},
		DPV: "dpv:ServiceProvision", NoticeVersion: "2026-11", NoticeURL: publicURL + "/demo/privacy",
	}
}

// Deps are what the demo set-up uses.
type Deps struct {
	Registrar *issuer.Registrar
	Passkeys  interface {
		PasskeysOf(ctx context.Context, citizenID string) ([]issuer.Passkey, error)
	}
	// Enrol issues an enrolment link for the citizen on behalf of by.
	Enrol func(ctx context.Context, citizenID, by string) (string, time.Time, error)
	// PublicURL is the server's; DataDir where the back-end clients' key
	// and secret are written.
	PublicURL, DataDir string
}

// ClientID is the demo agency's client.
const ClientID = "demo-agency"

// demoCitizens are fictional people for the demo.
var demoCitizens = []issuer.Citizen{
	{ID: "demo-citizen-ana", GivenName: "Ana", FamilyName: "García López", Birthdate: "1990-04-12", Email: "ana@example.org", Locale: "es"},
	{ID: "demo-citizen-john", GivenName: "John", FamilyName: "Smith", Birthdate: "1985-11-02", Email: "john@example.org", Locale: "en"},
}

// Seed registers the demo agency (a public client whose relying party
// Cedula itself serves at /demo), its back-end clients and the fictional
// citizens, and prints an enrolment link for each citizen without a
// passkey.
func Seed(ctx context.Context, s Deps, out io.Writer) error {
	c := issuer.Client{
		ID: ClientID, Name: "Agencia de demostración / Demo agency",
		RedirectURIs: []string{s.PublicURL + "/demo/callback"},
		GrantTypes:   []string{issuer.GrantAuthorizationCode, issuer.GrantRefreshToken},
		AuthMethod:   issuer.AuthNone, SubjectType: issuer.SubjectPairwise, Created: time.Now(),
	}
	if _, err := s.Registrar.RegisterClient(ctx, c, issuer.Registration{By: issuer.Operator}); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nDemo mode. The demo agency's site is %s/demo\n", s.PublicURL)
	if err := seedMachine(ctx, s, out); err != nil {
		return err
	}
	if err := seedSecretMachine(ctx, s, out); err != nil {
		return err
	}
	for _, dc := range demoCitizens {
		dc.Created = time.Now()
		if _, err := s.Registrar.CreateCitizen(ctx, dc); err != nil && !errors.Is(err, issuer.ErrExists) {
			return err
		}
		pks, err := s.Passkeys.PasskeysOf(ctx, dc.ID)
		if err != nil {
			return err
		}
		if len(pks) > 0 {
			fmt.Fprintf(out, "  %s already has a passkey: log in at %s/demo\n", dc.DisplayName(), s.PublicURL)
			continue
		}
		link, _, err := s.Enrol(ctx, dc.ID, "demo")
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  Enrol %s (create a passkey): %s\n", dc.DisplayName(), link)
	}
	fmt.Fprintln(out)
	return nil
}

// demoRP is a minimal relying party for the demo agency, built on
// coreos/go-oidc and golang.org/x/oauth2 as an agency would build one.
type demoRP struct {
	issuer string
	client *http.Client // reaches this server directly
}

// Mount adds the demo agency's site (GET /demo, /demo/callback); its
// back-channel requests (discovery, token, keys, userinfo) go straight to
// server, the whole server's handler, so the demo works whatever address
// it listens on.
func Mount(e *httpapi.Echo, publicURL string, server http.Handler) {
	rp := &demoRP{issuer: publicURL, client: &http.Client{Transport: handlerTransport{server}, Timeout: 10 * time.Second}}
	e.GET("/demo", httpapi.WrapHandler(http.HandlerFunc(rp.start)))
	e.GET("/demo/callback", httpapi.WrapHandler(http.HandlerFunc(rp.callback)))
}

// handlerTransport answers requests with a handler in this process.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	w := &responseBuffer{header: http.Header{}}
	t.h.ServeHTTP(w, r)
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return &http.Response{Status: fmt.Sprintf("%d %s", w.status, http.StatusText(w.status)), StatusCode: w.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: w.header, Body: io.NopCloser(&w.body),
		ContentLength: int64(w.body.Len()), Request: r}, nil
}

// responseBuffer is an http.ResponseWriter that keeps the response.
type responseBuffer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *responseBuffer) Header() http.Header { return w.header }

func (w *responseBuffer) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *responseBuffer) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

func (rp *demoRP) config(ctx context.Context) (*oauth2.Config, *oidc.Provider, error) {
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, rp.client), rp.issuer)
	if err != nil {
		return nil, nil, err
	}
	return &oauth2.Config{ClientID: ClientID, Endpoint: p.Endpoint(), RedirectURL: rp.issuer + "/demo/callback",
		Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidcop.PurposeScope + PurposeID}}, p, nil
}

func randomString() string { return random.Token(24) }

func (rp *demoRP) start(w http.ResponseWriter, r *http.Request) {
	cfg, _, err := rp.config(r.Context())
	if err != nil {
		problem.Write(w, problem.Problem{Title: "Demo unavailable", Status: http.StatusBadGateway, Lang: "en",
			Detail: "the demo could not read the provider's discovery document"})
		return
	}
	state, nonce, verifier := randomString(), randomString(), oauth2.GenerateVerifier()
	for name, v := range map[string]string{"demo_state": state, "demo_nonce": nonce, "demo_verifier": verifier} {
		http.SetCookie(w, &http.Cookie{Name: name, Value: v, Path: "/demo", HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: 900})
	}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}
	if r.URL.Query().Get("verified") != "" {
		// /demo?verified=1: the identity checked from the citizen's
		// wallet, through the OIDC bridge.
		cfg.Scopes = append(cfg.Scopes, oidcop.PurposeScope+VerifiedSignInPurposeID)
		opts = append(opts, oauth2.SetAuthURLParam("claims", verifiedClaimsRequest))
	}
	http.Redirect(w, r, cfg.AuthCodeURL(state, opts...), http.StatusFound)
}

// verifiedClaimsRequest is what the demo agency asks of the bridge (OpenID
// Connect for Identity Assurance 1.0 §5.3): four claims of the identity
// credential in the ID token, with the trust framework, the time and the
// evidence.
const verifiedClaimsRequest = `{"id_token":{"verified_claims":{"verification":{"trust_framework":null,"time":null,` +
	`"evidence":[{"type":{"value":"electronic_record"},"record":{"type":null,"source":{"name":null}}}]},` +
	`"claims":{"given_name":null,"family_name":null,"birthdate":null,"age_over_18":null}}}}`

var demoPage = template.Must(template.New("demo").Parse(`<!doctype html>
<html lang="es"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Agencia de demostración</title><link rel="stylesheet" href="/static/cedula.css"></head>
<body><main id="main"><h1>Agencia de demostración</h1>
{{if .Error}}<p role="alert">{{.Error}}</p>{{else}}
<p>Has iniciado sesión con Cedula. Esto es lo que la agencia recibió (ID token verificado y userinfo):</p>
<dl>{{range .Claims}}<dt>{{.K}}</dt><dd>{{.V}}</dd>{{end}}</dl>{{end}}
<p><a href="/demo">Iniciar sesión de nuevo</a> · <a href="/demo?verified=1">Iniciar sesión con la identidad comprobada por la cartera</a> · <a href="/account">Mis llaves de acceso</a></p></main></body></html>`))

type kv struct{ K, V string }

func (rp *demoRP) callback(w http.ResponseWriter, r *http.Request) {
	fail := func(msg string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		demoPage.Execute(w, map[string]any{"Error": msg})
	}
	cookie := func(n string) string {
		c, err := r.Cookie(n)
		if err != nil {
			return ""
		}
		return c.Value
	}
	if e := r.URL.Query().Get("error"); e != "" {
		fail("La agencia recibió un error: " + e)
		return
	}
	if st := cookie("demo_state"); st == "" || st != r.URL.Query().Get("state") {
		fail("El parámetro state no coincide.")
		return
	}
	ctx := oidc.ClientContext(r.Context(), rp.client)
	cfg, p, err := rp.config(ctx)
	if err != nil {
		fail("No se pudo leer la configuración del proveedor.")
		return
	}
	tok, err := cfg.Exchange(ctx, r.URL.Query().Get("code"), oauth2.VerifierOption(cookie("demo_verifier")))
	if err != nil {
		fail("No se pudo canjear el código.")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := p.Verifier(&oidc.Config{ClientID: ClientID}).Verify(ctx, raw)
	if err != nil || idt.Nonce != cookie("demo_nonce") {
		fail("El ID token no es válido.")
		return
	}
	ui, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		fail("No se pudo leer userinfo.")
		return
	}
	var claims map[string]any
	ui.Claims(&claims)
	list := []kv{{"sub (ID token)", idt.Subject}}
	for _, k := range []string{"given_name", "family_name", "birthdate", "email"} {
		if v, ok := claims[k]; ok {
			list = append(list, kv{k, fmt.Sprint(v)})
		}
	}
	var idClaims struct {
		Verified *struct {
			Verification map[string]any `json:"verification"`
			Claims       map[string]any `json:"claims"`
		} `json:"verified_claims"`
	}
	if idt.Claims(&idClaims) == nil && idClaims.Verified != nil {
		for _, k := range []string{"given_name", "family_name", "birthdate", "age_over_18"} {
			if v, ok := idClaims.Verified.Claims[k]; ok {
				list = append(list, kv{"verified_claims." + k, fmt.Sprint(v)})
			}
		}
		list = append(list, kv{"verified_claims.verification.time", fmt.Sprint(idClaims.Verified.Verification["time"])})
	}
	h := sha256.Sum256([]byte(raw))
	list = append(list, kv{"ID token SHA-256", base64.RawURLEncoding.EncodeToString(h[:8]) + "…"})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	demoPage.Execute(w, map[string]any{"Claims": list})
}

// MachineID is a demo agency back-end using client_credentials with
// private_key_jwt; its private key is written to the data folder so that
// `cedula bench token`, `consent`, `issue` and `credential` can act as it.
// It is the issuer of the demo's credential types (issuer/credential's
// demo.yaml), so it holds the issuance scope too, and it publishes alerts
// (cedula:alerts) for `cedula bench journeys --mode alerts`.
const MachineID = "demo-machine"

func seedMachine(ctx context.Context, s Deps, out io.Writer) error {
	path := filepath.Join(s.DataDir, MachineID+".jwk")
	var k *jose.ClientKey
	if b, err := os.ReadFile(path); err == nil {
		if k, err = jose.ParseClientKey(b); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	} else {
		if k, err = jose.NewClientKey(keys.ES256); err != nil {
			return err
		}
		pj, err := k.PrivateJWK()
		if err != nil {
			return err
		}
		if err := os.WriteFile(path, pj, 0o600); err != nil {
			return err
		}
	}
	jwks, err := k.PublicJWKS()
	if err != nil {
		return err
	}
	c := issuer.Client{ID: MachineID, Name: "Demo agency back-end", GrantTypes: []string{issuer.GrantClientCredentials},
		AuthMethod: issuer.AuthPrivateKeyJWT, JWKS: jwks, SubjectType: issuer.SubjectPairwise,
		Scopes: []string{scopes.Admin, scopes.Consent, scopes.Issuance, scopes.Verification, scopes.Alerts}, Created: time.Now()}
	if _, err := s.Registrar.RegisterClient(ctx, c, issuer.Registration{By: issuer.Operator}); err != nil {
		return err
	}
	fmt.Fprintf(out, "  Demo back-end client %q (client_credentials, private_key_jwt); its key: %s\n", MachineID, path)
	return nil
}

// SecretMachineID is a demo agency back-end using client_credentials
// with client_secret_basic; its secret is written to the data folder so
// that `cedula bench token --auth secret` can act as it.
const SecretMachineID = "demo-machine-secret"

func seedSecretMachine(ctx context.Context, s Deps, out io.Writer) error {
	path := filepath.Join(s.DataDir, SecretMachineID+".secret")
	var secret string
	var digest []byte
	if b, err := os.ReadFile(path); err == nil {
		if secret = strings.TrimSpace(string(b)); len(secret) < 43 {
			return fmt.Errorf("%s: not a secret of 256 bits", path)
		}
		digest = issuer.HashSecret(secret)
	} else {
		secret, digest = issuer.NewClientSecret()
		if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
			return err
		}
	}
	c := issuer.Client{ID: SecretMachineID, Name: "Demo agency back-end (secret)", GrantTypes: []string{issuer.GrantClientCredentials},
		AuthMethod: issuer.AuthClientSecretBasic, SecretHash: digest, SubjectType: issuer.SubjectPairwise, Scopes: []string{scopes.Admin, scopes.Consent}, Created: time.Now()}
	if _, err := s.Registrar.RegisterClient(ctx, c, issuer.Registration{By: issuer.Operator}); err != nil {
		return err
	}
	fmt.Fprintf(out, "  Demo back-end client %q (client_credentials, client_secret_basic); its secret: %s\n", SecretMachineID, path)
	return nil
}

// CredentialPurposeID is the purpose the demo's credential types rest on:
// the demo back end issues them as a public task.
const CredentialPurposeID = "demo-credentials"

// CredentialPurpose is the demo back end's purpose for issuing
// credentials, for the registry.
func CredentialPurpose(publicURL string) consent.Purpose {
	return consent.Purpose{
		ID: CredentialPurposeID,
		Name: consent.Text{ES: "Emitir credenciales de demostración a su cartera",
			EN: "Issuing demo credentials to your wallet"},
		Description: consent.Text{
			ES: "La agencia de demostración lee sus datos del registro para emitirle credenciales verificables que usted guarda en su cartera.",
			EN: "The demo agency reads your data from the registry to issue you verifiable credentials that you keep in your wallet."},
		Controller: MachineID, LegalBasis: consent.PublicTask, Categories: []string{"identity", "address", "business"},
		DPV: "dpv:ServiceProvision", NoticeVersion: "2026-12", NoticeURL: publicURL + "/demo/privacy",
	}
}

// Purposes the demo back end asks citizens to present credentials under
// (verifier/demo.yaml registers what each may ask).
const (
	IdentityCheckPurposeID  = "demo-identity-check"
	ResidenceCheckPurposeID = "demo-residence-check"
	// VerifiedSignInPurposeID is the demo agency's (the OIDC client's):
	// signing citizens in with their identity checked from their wallet
	// (the OIDC bridge's verified_claims).
	VerifiedSignInPurposeID = "demo-verified-sign-in"
)

// VerificationPurposes are the demo back end's purposes for checking
// citizens' credentials, for the registry: an identity check on the
// citizen's consent (given in the wallet when they present), and a
// residence check as a public task.
func VerificationPurposes(publicURL string) []consent.Purpose {
	return []consent.Purpose{{
		ID: IdentityCheckPurposeID,
		Name: consent.Text{ES: "Comprobar su identidad en la agencia de demostración",
			EN: "Checking your identity at the demo agency"},
		Description: consent.Text{
			ES: "La agencia de demostración comprueba los datos de identidad que usted le presenta desde su cartera, o los de la empresa que representa.",
			EN: "The demo agency checks the identity data you present to it from your wallet, or those of the company you represent."},
		Controller: MachineID, LegalBasis: consent.Consent, Categories: []string{"identity", "business"},
		Retention: 365 * 24 * time.Hour, DPV: "dpv:IdentityVerification", NoticeVersion: "2026-12", NoticeURL: publicURL + "/demo/privacy",
	}, {
		ID: ResidenceCheckPurposeID,
		Name: consent.Text{ES: "Comprobar su residencia para un trámite",
			EN: "Checking your residence for a procedure"},
		Description: consent.Text{
			ES: "La agencia de demostración comprueba la dirección que usted le presenta, como exige el trámite que ha iniciado.",
			EN: "The demo agency checks the address you present to it, as the procedure you started requires."},
		Controller: MachineID, LegalBasis: consent.PublicTask, Categories: []string{"address"},
		DPV: "dpv:ServiceProvision", NoticeVersion: "2026-12", NoticeURL: publicURL + "/demo/privacy",
	}, {
		ID: VerifiedSignInPurposeID,
		Name: consent.Text{ES: "Iniciar sesión con su identidad comprobada",
			EN: "Signing in with your identity checked"},
		Description: consent.Text{
			ES: "La agencia de demostración recibe su nombre, su fecha de nacimiento y si es mayor de edad, comprobados con la credencial de identidad de su cartera, para atenderle sin más papeles.",
			EN: "The demo agency receives your name, your date of birth and whether you are of age, checked with the identity credential in your wallet, to serve you without more paperwork."},
		Controller: ClientID, LegalBasis: consent.Consent, Categories: []string{"identity"},
		Retention: 365 * 24 * time.Hour, DPV: "dpv:IdentityVerification", NoticeVersion: "2026-12", NoticeURL: publicURL + "/demo/privacy",
	}}
}
