package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/oidcop"
	"github.com/cedula/cedula/issuer/pages"
)

// DemoClientID is the demo agency's client.
const DemoClientID = "demo-agency"

// demoCitizens are fictional people for the demo.
var demoCitizens = []issuer.Citizen{
	{ID: "demo-citizen-ana", GivenName: "Ana", FamilyName: "García López", Birthdate: "1990-04-12", Email: "ana@example.org", Locale: "es"},
	{ID: "demo-citizen-john", GivenName: "John", FamilyName: "Smith", Birthdate: "1985-11-02", Email: "john@example.org", Locale: "en"},
}

// SeedDemo registers the demo agency (a public client whose relying party
// Cedula itself serves at /demo) and the fictional citizens, and prints an
// enrolment link for each citizen without a passkey.
func SeedDemo(ctx context.Context, s *Server, out io.Writer) error {
	c := issuer.Client{
		ID: DemoClientID, Name: "Agencia de demostración / Demo agency",
		RedirectURIs: []string{s.Config.PublicURL + "/demo/callback"},
		GrantTypes:   []string{issuer.GrantAuthorizationCode, issuer.GrantRefreshToken},
		AuthMethod:   issuer.AuthNone, SubjectType: issuer.SubjectPairwise, Created: time.Now(),
	}
	if err := s.Store.PutClient(ctx, c); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nDemo mode. The demo agency's site is %s/demo\n", s.Config.PublicURL)
	if err := seedMachine(ctx, s, out); err != nil {
		return err
	}
	if err := seedSecretMachine(ctx, s, out); err != nil {
		return err
	}
	for _, dc := range demoCitizens {
		dc.Created = time.Now()
		if err := s.Store.CreateCitizen(ctx, dc); err != nil && !errors.Is(err, issuer.ErrExists) {
			return err
		}
		pks, err := s.Store.PasskeysOf(ctx, dc.ID)
		if err != nil {
			return err
		}
		if len(pks) > 0 {
			fmt.Fprintf(out, "  %s already has a passkey: log in at %s/demo\n", dc.DisplayName(), s.Config.PublicURL)
			continue
		}
		link, _, err := pages.Enrol(ctx, s.Store, dc.ID, "demo", s.Config.EnrolmentTTL.D(), s.Config.PublicURL)
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

func (s *Server) mountDemo(mux router) {
	rp := &demoRP{issuer: s.Config.PublicURL, client: &http.Client{Transport: handlerTransport{s}, Timeout: 10 * time.Second}}
	mux.HandleFunc("GET /demo", rp.start)
	mux.HandleFunc("GET /demo/callback", rp.callback)
}

// handlerTransport sends the demo RP's back-channel requests straight to
// the server's handler, so the demo works whatever address it listens on.
type handlerTransport struct{ s *Server }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.s.handler.ServeHTTP(rec, r)
	res := rec.Result()
	res.Request = r
	return res, nil
}

func (rp *demoRP) config(ctx context.Context) (*oauth2.Config, *oidc.Provider, error) {
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, rp.client), rp.issuer)
	if err != nil {
		return nil, nil, err
	}
	return &oauth2.Config{ClientID: DemoClientID, Endpoint: p.Endpoint(), RedirectURL: rp.issuer + "/demo/callback",
		Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidcop.PurposeScope + DemoPurpose}}, p, nil
}

func randomString() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (rp *demoRP) start(w http.ResponseWriter, r *http.Request) {
	cfg, _, err := rp.config(r.Context())
	if err != nil {
		writeProblem(w, http.StatusBadGateway, "Demo unavailable", "the demo could not read the provider's discovery document")
		return
	}
	state, nonce, verifier := randomString(), randomString(), oauth2.GenerateVerifier()
	for name, v := range map[string]string{"demo_state": state, "demo_nonce": nonce, "demo_verifier": verifier} {
		http.SetCookie(w, &http.Cookie{Name: name, Value: v, Path: "/demo", HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: 900})
	}
	http.Redirect(w, r, cfg.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), http.StatusFound)
}

var demoPage = template.Must(template.New("demo").Parse(`<!doctype html>
<html lang="es"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Agencia de demostración</title><link rel="stylesheet" href="/static/cedula.css"></head>
<body><main id="main"><h1>Agencia de demostración</h1>
{{if .Error}}<p role="alert">{{.Error}}</p>{{else}}
<p>Has iniciado sesión con Cedula. Esto es lo que la agencia recibió (ID token verificado y userinfo):</p>
<dl>{{range .Claims}}<dt>{{.K}}</dt><dd>{{.V}}</dd>{{end}}</dl>{{end}}
<p><a href="/demo">Iniciar sesión de nuevo</a> · <a href="/account">Mis llaves de acceso</a></p></main></body></html>`))

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
	idt, err := p.Verifier(&oidc.Config{ClientID: DemoClientID}).Verify(ctx, raw)
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
	h := sha256.Sum256([]byte(raw))
	list = append(list, kv{"ID token SHA-256", base64.RawURLEncoding.EncodeToString(h[:8]) + "…"})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	demoPage.Execute(w, map[string]any{"Claims": list})
}

// DemoMachineID is a demo agency back-end using client_credentials with
// private_key_jwt; its private key is written to the data folder so that
// `cedula bench token` can act as it.
const DemoMachineID = "demo-machine"

func seedMachine(ctx context.Context, s *Server, out io.Writer) error {
	path := filepath.Join(s.Config.DataDir, DemoMachineID+".jwk")
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
	c := issuer.Client{ID: DemoMachineID, Name: "Demo agency back-end", GrantTypes: []string{issuer.GrantClientCredentials},
		AuthMethod: issuer.AuthPrivateKeyJWT, JWKS: jwks, SubjectType: issuer.SubjectPairwise, Scopes: []string{AdminScope, ConsentScope}, Created: time.Now()}
	if err := s.Store.PutClient(ctx, c); err != nil {
		return err
	}
	fmt.Fprintf(out, "  Demo back-end client %q (client_credentials, private_key_jwt); its key: %s\n", DemoMachineID, path)
	return nil
}

// DemoSecretMachineID is a demo agency back-end using client_credentials
// with client_secret_basic; its secret is written to the data folder so
// that `cedula bench token --auth secret` can act as it.
const DemoSecretMachineID = "demo-machine-secret"

func seedSecretMachine(ctx context.Context, s *Server, out io.Writer) error {
	path := filepath.Join(s.Config.DataDir, DemoSecretMachineID+".secret")
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
	c := issuer.Client{ID: DemoSecretMachineID, Name: "Demo agency back-end (secret)", GrantTypes: []string{issuer.GrantClientCredentials},
		AuthMethod: issuer.AuthClientSecretBasic, SecretHash: digest, SubjectType: issuer.SubjectPairwise, Scopes: []string{AdminScope, ConsentScope}, Created: time.Now()}
	if err := s.Store.PutClient(ctx, c); err != nil {
		return err
	}
	fmt.Fprintf(out, "  Demo back-end client %q (client_credentials, client_secret_basic); its secret: %s\n", DemoSecretMachineID, path)
	return nil
}
