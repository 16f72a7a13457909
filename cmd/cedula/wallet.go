package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/oauth2"

	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/random"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/mobile-api/mobileclient"
)

// WalletCLIPort is the loopback port `cedula wallet login` waits on for
// the browser's redirect: http://127.0.0.1:WalletCLIPort/callback is among
// the wallet app's default redirect URIs (wallet_redirect_uris).
const WalletCLIPort = 53682

// walletFlags are the flags every wallet command shares.
type walletFlags struct {
	state string
	lang  string
}

func newWalletCmd() *cobra.Command {
	wf := &walletFlags{}
	cmd := &cobra.Command{
		Use:   "wallet",
		Short: "Use a server's mobile API from a terminal, as the citizen's phone does",
		Long: `Drive the mobile API as the citizen's wallet app does, to try the citizen's side
from a terminal: log in with a passkey in a browser (the app's own login:
PAR, PKCE, a DPoP-bound token), accept credential offers, list credentials,
answer presentation requests, follow the inbox.

The session (the server's URL, the access token and the DPoP key it is bound
to) is kept in --state, readable by you alone.`,
	}
	cmd.PersistentFlags().StringVar(&wf.state, "state", defaultWalletState(), "`file` keeping the wallet session")
	cmd.PersistentFlags().StringVar(&wf.lang, "lang", "es", "language of display texts: es or en")
	cmd.AddCommand(newWalletLoginCmd(wf), newWalletLogoutCmd(wf), newWalletMeCmd(wf), newWalletCredentialsCmd(wf),
		newWalletAcceptCmd(wf), newWalletAuthorizedCmd(wf), newWalletDeferredCmd(wf), newWalletDeleteCmd(wf), newWalletPresentCmd(wf),
		newWalletInboxCmd(wf))
	groupRunE(cmd, "subcommand")
	return cmd
}

func defaultWalletState() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "cedula-wallet.json"
	}
	return filepath.Join(dir, "cedula", "wallet.json")
}

// walletSession is what --state keeps.
type walletSession struct {
	URL     string          `json:"url"`
	Token   string          `json:"access_token"`
	DPoPKey json.RawMessage `json:"dpop_key"`
	Expires time.Time       `json:"expires"`
}

func (wf *walletFlags) load() (*walletSession, *mobileclient.ClientWithResponses, error) {
	b, err := os.ReadFile(wf.state)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, errors.New("not logged in: run cedula wallet login --url URL first")
	}
	if err != nil {
		return nil, nil, err
	}
	var s walletSession
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", wf.state, err)
	}
	if !s.Expires.IsZero() && time.Now().After(s.Expires) {
		return nil, nil, errors.New("the session has expired: run cedula wallet login again")
	}
	k, err := jose.ParseClientKey(s.DPoPKey)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", wf.state, err)
	}
	h := sha256.Sum256([]byte(s.Token))
	ath := base64.RawURLEncoding.EncodeToString(h[:])
	c, err := mobileclient.NewClientWithResponses(strings.TrimSuffix(s.URL, "/")+"/mobile/v1", mobileclient.WithRequestEditorFn(
		func(_ context.Context, req *http.Request) error {
			proof, err := k.SignDPoP(req.Method, req.URL.Scheme+"://"+req.URL.Host+req.URL.EscapedPath(), ath, time.Now())
			req.Header.Set("Authorization", "DPoP "+s.Token)
			req.Header.Set("DPoP", proof)
			req.Header.Set("Accept-Language", wf.lang)
			return err
		}))
	return &s, c, err
}

func (wf *walletFlags) save(s *walletSession) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(wf.state), 0o700); err != nil {
		return err
	}
	return os.WriteFile(wf.state, b, 0o600)
}

func newWalletLoginCmd(wf *walletFlags) *cobra.Command {
	var base string
	var port int
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Log in with a passkey in your browser, as the wallet app",
		Long: `Log in to the server at --url as its wallet app: the command pushes the
authorization request (PAR, PKCE, a DPoP key made here), prints the address to
open in a browser where you log in with your passkey, and waits on
http://127.0.0.1:PORT/callback for the browser's redirect.`,
		Example: "  cedula wallet login --url http://localhost:8080",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return walletLogin(cmd.Context(), wf, base, port, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&base, "url", "http://localhost:8080", "the server's public URL")
	cmd.Flags().IntVar(&port, "port", WalletCLIPort, "loopback port to receive the browser's redirect on")
	return cmd
}

// walletLogin runs the wallet app's login: discovery, PAR with a DPoP
// proof, the browser, the code exchanged with a DPoP proof.
func walletLogin(ctx context.Context, wf *walletFlags, base string, port int, out io.Writer) error {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return fmt.Errorf("listen for the browser's redirect: %w", err)
	}
	defer ln.Close()
	wa, err := startWalletLogin(ctx, http.DefaultClient, base, fmt.Sprintf("http://127.0.0.1:%d/callback", port))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Open this address in your browser and log in with your passkey:\n\n  %s\n\nWaiting for the browser…\n", wa.loginURL)

	codes := make(chan url.Values, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html lang="es"><meta charset="utf-8"><title>Cedula</title>`+
			`<main><h1>Listo / Done</h1><p>Puede cerrar esta ventana. / You may close this window.</p></main></html>`)
		select {
		case codes <- r.URL.Query():
		default:
		}
	})}
	go srv.Serve(ln)
	defer srv.Close()
	var q url.Values
	select {
	case q = <-codes:
	case <-ctx.Done():
		return ctx.Err()
	}
	tok, err := wa.finish(ctx, q)
	if err != nil {
		return err
	}
	priv, err := tok.key.PrivateJWK()
	if err != nil {
		return err
	}
	if err := wf.save(&walletSession{URL: wa.base, Token: tok.token, DPoPKey: priv, Expires: tok.expires}); err != nil {
		return err
	}
	fmt.Fprintf(out, "Logged in; the session is in %s.\n", wf.state)
	return nil
}

// walletAuth is the wallet app's login under way (`cedula wallet login`,
// and each virtual citizen of `cedula bench wallet`): the authorization
// request pushed with PKCE and a DPoP key made here, waiting for the
// browser to come back to redirect.
type walletAuth struct {
	hc                    *http.Client
	base, token, redirect string
	verifier, state       string
	key                   *jose.ClientKey
	// loginURL is the address the citizen opens in a browser.
	loginURL string
}

// walletToken is what the login ends with: a DPoP-bound access token and
// the key it is bound to.
type walletToken struct {
	token   string
	key     *jose.ClientKey
	expires time.Time // zero: not said
}

// startWalletLogin reads the server's discovery document and pushes the
// wallet app's authorization request (RFC 9126) with PKCE (RFC 7636, S256)
// and a DPoP proof of a fresh key (RFC 9449 §10).
func startWalletLogin(ctx context.Context, hc *http.Client, base, redirect string) (*walletAuth, error) {
	base = strings.TrimSuffix(base, "/")
	var md struct {
		Authorization string `json:"authorization_endpoint"`
		Token         string `json:"token_endpoint"`
		PAR           string `json:"pushed_authorization_request_endpoint"`
	}
	if err := getJSON(ctx, hc, base+"/.well-known/openid-configuration", &md); err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	k, err := jose.NewClientKey(keys.ES256)
	if err != nil {
		return nil, err
	}
	wa := &walletAuth{hc: hc, base: base, token: md.Token, redirect: redirect, verifier: oauth2.GenerateVerifier(),
		state: random.Token(16), key: k}
	form := url.Values{"client_id": {app.WalletClientID}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {"openid " + scopes.Wallet}, "state": {wa.state}, "code_challenge": {oauth2.S256ChallengeFromVerifier(wa.verifier)},
		"code_challenge_method": {"S256"}}
	var par struct {
		RequestURI string `json:"request_uri"`
	}
	if err := postForm(ctx, hc, md.PAR, form, k, &par); err != nil {
		return nil, fmt.Errorf("pushed authorization request: %w", err)
	}
	wa.loginURL = md.Authorization + "?" + url.Values{"client_id": {app.WalletClientID}, "request_uri": {par.RequestURI}}.Encode()
	return wa, nil
}

// finish takes the query the browser came back to the redirect URI with
// and exchanges its code, with the PKCE verifier and a DPoP proof, for a
// DPoP-bound access token.
func (wa *walletAuth) finish(ctx context.Context, q url.Values) (walletToken, error) {
	if q.Get("state") != wa.state {
		return walletToken{}, errors.New("the browser came back with another login's state")
	}
	if e := q.Get("error"); e != "" {
		return walletToken{}, fmt.Errorf("login refused: %s: %s", e, q.Get("error_description"))
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := postForm(ctx, wa.hc, wa.token, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"client_id": {app.WalletClientID}, "redirect_uri": {wa.redirect}, "code_verifier": {wa.verifier}}, wa.key, &tok); err != nil {
		return walletToken{}, fmt.Errorf("token: %w", err)
	}
	if !strings.EqualFold(tok.TokenType, "DPoP") {
		return walletToken{}, fmt.Errorf("the server gave a %s token, not a DPoP-bound one", tok.TokenType)
	}
	t := walletToken{token: tok.AccessToken, key: wa.key}
	if tok.ExpiresIn > 0 {
		t.expires = time.Now().Add(time.Duration(tok.ExpiresIn) * time.Second)
	}
	return t, nil
}

// postForm posts form with a DPoP proof of k and decodes the JSON answer.
func postForm(ctx context.Context, hc *http.Client, u string, form url.Values, k *jose.ClientKey, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	proof, err := k.SignDPoP(http.MethodPost, u, "", time.Now())
	if err != nil {
		return err
	}
	req.Header.Set("DPoP", proof)
	return doJSON(hc, req, 0, v)
}

func newWalletLogoutCmd(wf *walletFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Forget the wallet session kept in --state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := os.Remove(wf.state); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Logged out.")
			return nil
		},
	}
}

// answer prints a response's problem as the command's error, or nothing.
func answer(status int, body []byte, want ...int) error {
	for _, w := range want {
		if status == w {
			return nil
		}
	}
	var p struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	if json.Unmarshal(body, &p) == nil && p.Title != "" {
		return fmt.Errorf("%d %s: %s", status, p.Title, p.Detail)
	}
	return fmt.Errorf("status %d", status)
}

func newWalletMeCmd(wf *walletFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "me",
		Short: "Say who the wallet is logged in as",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, c, err := wf.load()
			if err != nil {
				return err
			}
			r, err := c.GetMeWithResponse(cmd.Context(), nil)
			if err != nil {
				return err
			}
			if err := answer(r.StatusCode(), r.Body, http.StatusOK); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s (born %s)\n", r.JSON200.GivenName, r.JSON200.FamilyName, r.JSON200.Birthdate)
			return nil
		},
	}
}

// printCredential writes one credential as a short block.
func printCredential(w io.Writer, c mobileclient.Credential) {
	fmt.Fprintf(w, "%s  %s — %s [%s]\n", c.Id, c.Display.Name, c.IssuerName, c.Status)
	claims, _ := json.MarshalIndent(c.Claims, "    ", "  ")
	fmt.Fprintf(w, "    %s\n", claims)
}

func newWalletCredentialsCmd(wf *walletFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "credentials",
		Short: "List the credentials the wallet holds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, c, err := wf.load()
			if err != nil {
				return err
			}
			params := &mobileclient.ListCredentialsParams{}
			for {
				r, err := c.ListCredentialsWithResponse(cmd.Context(), params)
				if err != nil {
					return err
				}
				if err := answer(r.StatusCode(), r.Body, http.StatusOK); err != nil {
					return err
				}
				for _, cr := range r.JSON200.Items {
					printCredential(cmd.OutOrStdout(), cr)
				}
				if r.JSON200.NextCursor == nil {
					return nil
				}
				params.Cursor = r.JSON200.NextCursor
			}
		},
	}
}

func newWalletAcceptCmd(wf *walletFlags) *cobra.Command {
	var txCode string
	var login bool
	cmd := &cobra.Command{
		Use:   "accept OFFER",
		Short: "Accept a credential offer (the QR code's text or the link) into the wallet",
		Long: `Show what a credential offer gives, then accept it with holder keys the server
keeps sealed for you. OFFER is the QR code's text or the link
(openid-credential-offer://…); --tx-code is the code the issuer sent you apart.
With --login (or for an offer without a code) you log in at the issuer
instead: the command prints the address to open in a browser, and
"cedula wallet authorized" takes where the browser ends.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, c, err := wf.load()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			pv, err := c.PreviewOfferWithResponse(cmd.Context(), nil, mobileclient.OfferPreviewRequest{Offer: args[0]})
			if err != nil {
				return err
			}
			if err := answer(pv.StatusCode(), pv.Body, http.StatusOK); err != nil {
				return err
			}
			fmt.Fprintf(out, "Offer from %s (%s):\n", pv.JSON200.IssuerName, pv.JSON200.Issuer)
			for _, cr := range pv.JSON200.Credentials {
				fmt.Fprintf(out, "  %s\n", cr.Display.Name)
			}
			if pv.JSON200.TxCode != nil && txCode == "" && !login {
				if pv.JSON200.Grants.AuthorizationCode {
					return errors.New("this offer needs the transaction code the issuer sent you (--tx-code), or your login at the issuer (--login)")
				}
				return errors.New("this offer needs the transaction code the issuer sent you: give it with --tx-code")
			}
			body := mobileclient.AcceptOfferRequest{Offer: args[0]}
			if txCode != "" {
				body.TxCode = &txCode
			}
			if login {
				g := mobileclient.AuthorizationCode
				body.Grant = &g
			}
			r, err := c.AcceptOfferWithResponse(cmd.Context(), &mobileclient.AcceptOfferParams{IdempotencyKey: random.Token(16)}, body)
			if err != nil {
				return err
			}
			if err := answer(r.StatusCode(), r.Body, http.StatusOK, http.StatusCreated); err != nil {
				return err
			}
			if p := r.JSON200; p != nil {
				fmt.Fprintf(out, "Log in at the issuer: open this address in your browser before %s:\n\n  %s\n\n"+
					"then give the address the browser ends on:\n\n  cedula wallet authorized %s 'ADDRESS'\n",
					p.ExpiresAt.Local().Format(time.Kitchen), p.AuthorizationUrl, p.Id)
				return nil
			}
			printReceived(out, *r.JSON201)
			return nil
		},
	}
	cmd.Flags().StringVar(&txCode, "tx-code", "", "the transaction code the issuer sent you")
	cmd.Flags().BoolVar(&login, "login", false, "log in at the issuer instead of giving a transaction code")
	return cmd
}

// printReceived prints the credentials an acceptance gave, and those the
// issuer deferred.
func printReceived(out io.Writer, r mobileclient.AcceptedOffer) {
	if len(r.Credentials) > 0 {
		fmt.Fprintln(out, "Received:")
	}
	for _, cr := range r.Credentials {
		printCredential(out, cr)
	}
	if r.Deferred != nil {
		fmt.Fprintln(out, "Deferred by the issuer (cedula wallet deferred ID asks again):")
		for _, d := range *r.Deferred {
			printDeferred(out, d)
		}
	}
}

func printDeferred(out io.Writer, d mobileclient.DeferredIssuance) {
	fmt.Fprintf(out, "%s  %s from %s, ask again after %s\n", d.Id, d.Display.Name, d.IssuerName, d.RetryAt.Local().Format(time.DateTime))
}

func newWalletAuthorizedCmd(wf *walletFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "authorized ID ADDRESS",
		Short: "Finish accepting an offer after logging in at the issuer",
		Long: `Give the address the browser ended on after the login at the issuer that
"cedula wallet accept --login" printed (the wallet app's redirect URI, with
its code and state): the credentials are received.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, c, err := wf.load()
			if err != nil {
				return err
			}
			r, err := c.CompleteOfferAuthorizationWithResponse(cmd.Context(), args[0],
				&mobileclient.CompleteOfferAuthorizationParams{IdempotencyKey: random.Token(16)}, mobileclient.AuthorizationCallback{CallbackUrl: &args[1]})
			if err != nil {
				return err
			}
			if err := answer(r.StatusCode(), r.Body, http.StatusCreated); err != nil {
				return err
			}
			printReceived(cmd.OutOrStdout(), *r.JSON201)
			return nil
		},
	}
}

func newWalletDeferredCmd(wf *walletFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "deferred [ID]",
		Short: "List the credentials issuers deferred, or ask for one",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, c, err := wf.load()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if len(args) == 0 {
				r, err := c.ListDeferredIssuancesWithResponse(cmd.Context(), nil)
				if err != nil {
					return err
				}
				if err := answer(r.StatusCode(), r.Body, http.StatusOK); err != nil {
					return err
				}
				for _, d := range r.JSON200.Items {
					printDeferred(out, d)
				}
				return nil
			}
			r, err := c.CollectDeferredIssuanceWithResponse(cmd.Context(), args[0], &mobileclient.CollectDeferredIssuanceParams{IdempotencyKey: random.Token(16)})
			if err != nil {
				return err
			}
			if err := answer(r.StatusCode(), r.Body, http.StatusCreated, http.StatusAccepted); err != nil {
				return err
			}
			if r.JSON202 != nil {
				fmt.Fprint(out, "Still deferred: ")
				printDeferred(out, *r.JSON202)
				return nil
			}
			printReceived(out, *r.JSON201)
			return nil
		},
	}
}

func newWalletDeleteCmd(wf *walletFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a credential from the wallet (its issuer is told)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, c, err := wf.load()
			if err != nil {
				return err
			}
			r, err := c.DeleteCredentialWithResponse(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if err := answer(r.StatusCode(), r.Body, http.StatusNoContent); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Deleted.")
			return nil
		},
	}
}

func newWalletPresentCmd(wf *walletFlags) *cobra.Command {
	var approve, decline bool
	var sets, creds []string
	cmd := &cobra.Command{
		Use:   "present REQUEST",
		Short: "Show a presentation request; approve it with the claims you choose, or decline",
		Long: `Show who asks (and whether the server could verify them), for which purpose,
which claims — and, when the verifier offers several, the sets of claims it
would take, numbered from 0 — and which of your credentials answer. With
--approve, present for each query the credential --credential names (else
the first that matches) with the claim set --claim-set names (else the first
the credential satisfies), so that only those claims are disclosed; with
--decline, tell the verifier no. REQUEST is the QR code's text or the link
(openid4vp://…).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if approve && decline {
				return errors.New("--approve and --decline exclude each other")
			}
			_, c, err := wf.load()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			r, err := c.ResolvePresentationWithResponse(cmd.Context(), nil, mobileclient.ResolvePresentationRequest{Request: args[0]})
			if err != nil {
				return err
			}
			if err := answer(r.StatusCode(), r.Body, http.StatusOK); err != nil {
				return err
			}
			pr := r.JSON200
			verified := "not verified"
			if pr.Verifier.Verified {
				verified = "verified"
			}
			fmt.Fprintf(out, "%s (%s, %s) asks:\n", pr.Verifier.Name, pr.Verifier.ClientId, verified)
			if pr.Purpose != nil && pr.Purpose.Name != nil {
				fmt.Fprintf(out, "  for: %s\n", *pr.Purpose.Name)
			}
			choice := map[string][]string{}
			for _, q := range pr.Queries {
				fmt.Fprintf(out, "  %s:", q.Id)
				for _, cl := range q.Claims {
					label := fmt.Sprint(derefPath(cl.Path))
					if cl.Label != nil {
						label = *cl.Label
					}
					if cl.Optional {
						label += " (optional)"
					}
					fmt.Fprintf(out, " %s;", label)
				}
				fmt.Fprintln(out)
				if q.ClaimSets != nil {
					for i, set := range *q.ClaimSets {
						fmt.Fprintf(out, "    claim set %d: %s\n", i, strings.Join(set, ", "))
					}
				}
				for _, m := range q.Matches {
					fmt.Fprintf(out, "    credential %s\n", m.CredentialId)
				}
				if len(q.Matches) > 0 {
					choice[q.Id] = []string{q.Matches[0].CredentialId}
				}
			}
			chosen, err := pairs("--credential", creds)
			if err != nil {
				return err
			}
			for query, id := range chosen {
				choice[query] = []string{id}
			}
			numbered, err := pairs("--claim-set", sets)
			if err != nil {
				return err
			}
			var claimSets map[string]int
			for query, n := range numbered {
				i, err := strconv.Atoi(n)
				if err != nil || i < 0 {
					return fmt.Errorf("--claim-set %s=%s: want a claim set's number", query, n)
				}
				if claimSets == nil {
					claimSets = map[string]int{}
				}
				claimSets[query] = i
			}
			switch {
			case decline:
				d, err := c.DeclinePresentationWithResponse(cmd.Context(), pr.Id)
				if err != nil {
					return err
				}
				if err := answer(d.StatusCode(), d.Body, http.StatusOK, http.StatusCreated); err != nil {
					return err
				}
				fmt.Fprintln(out, "Declined.")
			case approve:
				if !pr.Answerable {
					return errors.New("the wallet holds nothing that answers this request")
				}
				a, err := c.ApprovePresentationWithResponse(cmd.Context(), pr.Id, &mobileclient.ApprovePresentationParams{IdempotencyKey: random.Token(16)},
					mobileclient.PresentationApproval{Credentials: choice, ClaimSets: optMap(claimSets)})
				if err != nil {
					return err
				}
				if a.StatusCode() == http.StatusAccepted {
					return errors.New("a credential's key is on a phone, which must sign the presentation: answer from the phone")
				}
				if err := answer(a.StatusCode(), a.Body, http.StatusCreated, http.StatusOK); err != nil {
					return err
				}
				fmt.Fprintln(out, "Presented.")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&approve, "approve", false, "present what the request requires")
	cmd.Flags().BoolVar(&decline, "decline", false, "decline the request")
	cmd.Flags().StringArrayVar(&sets, "claim-set", nil, "`QUERY=N`: answer the query with its claim set N (repeatable)")
	cmd.Flags().StringArrayVar(&creds, "credential", nil, "`QUERY=ID`: answer the query with credential ID (repeatable)")
	return cmd
}

// pairs reads the KEY=VALUE values of a flag.
func pairs(flag string, values []string) (map[string]string, error) {
	out := map[string]string{}
	for _, f := range values {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("%s %q: want QUERY=VALUE", flag, f)
		}
		out[k] = v
	}
	return out, nil
}

func optMap(m map[string]int) *map[string]int {
	if m == nil {
		return nil
	}
	return &m
}

func derefPath(p []*any) []any {
	out := make([]any, len(p))
	for i, v := range p {
		if v != nil {
			out[i] = *v
		}
	}
	return out
}
