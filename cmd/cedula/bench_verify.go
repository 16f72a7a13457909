package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/cedula/cedula/internal/bench"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/scopes"
	"github.com/cedula/cedula/internal/sdjwt"
	"github.com/cedula/cedula/issuer/demo"
)

// verifyConcurrency is the wallets answering at once in cedula bench
// verify.
const verifyConcurrency = 50

// defaultVerifyMinRatio is the least share of V₂ the verifier is held to
// (the issue's target).
const defaultVerifyMinRatio = 0.25

// verifyClaim is the claim the bench's requests ask for: the PID's
// address, which the demo's public-task purpose registers (verifier/
// demo.yaml), so that no consent needs setting up.
const verifyClaim = "address"

// answerMaxAge is how long a prepared answer is kept for later rounds:
// well inside the verifier's KB-JWT age (verifier.KBMaxAge, 5 minutes)
// and its requests' lifetime (10 minutes).
const answerMaxAge = 2 * time.Minute

// probeTime is how long the probe makes answers for; probeMargin how
// many times the probe's rate the first round is sized for.
const (
	probeTime   = 2 * time.Second
	probeMargin = 3
)

// probeRate makes items with mk for d from conc workers, then uses them
// all with use from conc workers, and returns the items used per second:
// the rate a round will use them at, to size the first round's stock.
func probeRate[T any](ctx context.Context, conc int, d time.Duration, mk func(context.Context) (T, error),
	use func(context.Context, T) error) (float64, error) {
	var s stock[T]
	if _, err := s.fill(ctx, 0, d, conc, mk); err != nil {
		return 0, err
	}
	if len(s.items) == 0 {
		return 0, errors.New("no item was made")
	}
	_, elapsed, err := bench.Loop(ctx, len(s.items), conc, func(ctx context.Context, _ int) error {
		it, err := s.take(ctx)
		if err != nil {
			return err
		}
		return use(ctx, it)
	})
	if err != nil {
		return 0, err
	}
	return float64(len(s.items)) / elapsed.Seconds(), nil
}

// benchVerifyOptions are the flags of cedula bench verify.
type benchVerifyOptions struct {
	load                       loadFlags
	rss                        rssFlags
	url, clientID, keyFile     string
	citizens, requests, rounds int
	minRatio                   float64
	v2                         time.Duration
}

func newBenchVerifyCmd() *cobra.Command {
	var o benchVerifyOptions
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Load the verifier with wallets' answers to presentation requests",
		Long: `Load the OpenID4VP verifier of the server at --url with wallets' answers,
each worker a virtual wallet. Timed, one call: the POST of an answer to its
request's response_uri (direct_post: vp_token with one SD-JWT+KB of a PID
disclosing its address, and state) and its 200 — the server's verification:
the issuer's signature (ES256), the key binding (ES256), the disclosures,
the status (its list cached), the DCQL query, the ledger's decision and the
durable write of the result with its audit entries.

Not timed: everything else. The client registers --citizens citizens
through the admin API and issues each a PID through the pre-authorized flow,
bound to a holder key the bench keeps. Before each round the agency creates
presentation requests under the demo's public-task purpose
demo-residence-check, asking for the PID's address (no consent to set up),
and for each the wallet fetches the request object (GET request_uri) and
signs its answer's KB-JWT over the request's nonce: the answers are made
before the round, one per call. Making an answer costs more than verifying
it: a probe first makes answers for two seconds and posts them all, untimed,
and the first round gets as many as the round would use at three times that
rate (the probe reads low) and a quarter more; later rounds as many as the
busiest round used and a quarter more, or --requests. Answers older than two
minutes are dropped before a round. A round that runs out of them fails.

After each round the bench measures V₂, the second reference: ES256
verifications per second of a fixed JWS on all cores (one goroutine a core),
in this process, for --v2-duration. It prints the medians, their ratio, and
fails below --min-ratio. The same V₂ is BenchmarkV2 (go test -bench V2
./cmd/cedula/), and BenchmarkVerifyCeiling is the ceiling to read the
verifier against.

The client needs the scopes cedula:admin, cedula:issuance and
cedula:verification (the demo's demo-machine has them), private_key_jwt.`,
		Example: "  cedula bench verify --url http://localhost:8080 --client-id demo-machine --client-key data/demo-machine.jwk",
		Args:    noArgs,
		RunE:    runWith(&o, benchVerify),
	}
	fs := cmd.Flags()
	o.load.add(fs, verifyConcurrency)
	fs.StringVar(&o.url, "url", "", "the server's issuer `URL` (required)")
	fs.StringVar(&o.clientID, "client-id", "", "an agency client with scopes cedula:admin, cedula:issuance and cedula:verification, private_key_jwt (required)")
	fs.StringVar(&o.keyFile, "client-key", "", "`file` with the client's private JWK (required)")
	fs.IntVar(&o.citizens, "citizens", 50, "citizens to create and issue a PID to; the answers present them round robin")
	fs.IntVar(&o.requests, "requests", 0, "answered requests to have ready before each round (0: sized as above)")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds, each followed by V₂; the run compares the medians")
	fs.Float64Var(&o.minRatio, "min-ratio", defaultVerifyMinRatio, "fail when verify/V₂ is below this (0: never)")
	fs.DurationVar(&o.v2, "v2-duration", 3*time.Second, "how long each measure of V₂ runs")
	o.rss.add(fs)
	return cmd
}

// verifyHolder is a virtual wallet's PID: the presentation of its
// address (the issuer-signed JWT and the disclosures, serialized once)
// and the holder key that signs each answer's key binding.
type verifyHolder struct {
	sd, sdHash string
	key        *jose.ClientKey
}

// newVerifyHolder readies the presentation of cred's claim name, held
// with key.
func newVerifyHolder(cred, name string, key *jose.ClientKey) (verifyHolder, error) {
	p, err := sdjwt.Parse(cred)
	if err != nil {
		return verifyHolder{}, err
	}
	ds := discloseClaim(p.Disclosures, name)
	if len(ds) == 0 {
		return verifyHolder{}, fmt.Errorf("the credential has no disclosure of %s", name)
	}
	sd := sdjwt.Serialize(p.JWT, ds, "")
	return verifyHolder{sd: sd, sdHash: sdjwt.SDHash(sd), key: key}, nil
}

// discloseClaim returns the disclosures that reveal the top-level claim
// name whole: its own and, when its value is an object, those of its
// selectively disclosable members (RFC 9901 §6.3), nested ones too. A
// disclosure another one refers to is a member, not a top-level claim,
// whatever its name: a member disclosed without its parent would fail
// the presentation.
func discloseClaim(ds []sdjwt.Disclosure, name string) []sdjwt.Disclosure {
	byDigest := make(map[string]sdjwt.Disclosure, len(ds))
	for _, d := range ds {
		byDigest[d.Digest] = d
	}
	members := func(d sdjwt.Disclosure) []string {
		obj, _ := d.Value.(map[string]any)
		digests, _ := obj["_sd"].([]any)
		var out []string
		for _, v := range digests {
			if s, _ := v.(string); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	nested := map[string]bool{}
	for _, d := range ds {
		for _, m := range members(d) {
			nested[m] = true
		}
	}
	var out []sdjwt.Disclosure
	var add func(d sdjwt.Disclosure)
	add = func(d sdjwt.Disclosure) {
		out = append(out, d)
		delete(byDigest, d.Digest)
		for _, m := range members(d) {
			if md, ok := byDigest[m]; ok {
				add(md)
			}
		}
	}
	for _, d := range ds {
		if _, left := byDigest[d.Digest]; left && d.Name == name && !nested[d.Digest] {
			add(d)
		}
	}
	return out
}

// present returns the presentation bound to aud and nonce at iat: the
// KB-JWT (RFC 9901 §4.3) signed with the holder key. It is the wallet's
// work, done before a round.
func (h verifyHolder) present(aud, nonce string, iat time.Time) (string, error) {
	input, err := jose.SigningInput(map[string]any{"alg": "ES256", "typ": "kb+jwt"},
		map[string]any{"aud": aud, "nonce": nonce, "iat": iat.Unix(), "sd_hash": h.sdHash})
	if err != nil {
		return "", err
	}
	kb, err := h.key.SignInput(input)
	if err != nil {
		return "", err
	}
	return h.sd + kb, nil
}

// verifyRequestObject is what a wallet reads from a request object
// (OpenID4VP 1.0 §5) to answer it.
type verifyRequestObject struct {
	ClientID     string `json:"client_id"`
	Nonce        string `json:"nonce"`
	State        string `json:"state"`
	ResponseURI  string `json:"response_uri"`
	ResponseMode string `json:"response_mode"`
}

// readRequestObject reads a request object's claims. Their signature is
// the wallet's to check, before a round; it is not what is measured.
func readRequestObject(obj []byte) (verifyRequestObject, error) {
	var ro verifyRequestObject
	raw, err := jose.UnverifiedPayload(obj)
	if err != nil {
		return ro, fmt.Errorf("request object: %w", err)
	}
	if err := json.Unmarshal(raw, &ro); err != nil {
		return ro, fmt.Errorf("request object: %w", err)
	}
	var missing []string
	for _, c := range []struct{ name, v string }{{"client_id", ro.ClientID}, {"nonce", ro.Nonce}, {"state", ro.State}, {"response_uri", ro.ResponseURI}} {
		if c.v == "" {
			missing = append(missing, c.name)
		}
	}
	if len(missing) > 0 {
		return ro, fmt.Errorf("request object: no %s", strings.Join(missing, ", "))
	}
	if ro.ResponseMode != "direct_post" {
		return ro, fmt.Errorf("request object: response_mode %q, want direct_post", ro.ResponseMode)
	}
	return ro, nil
}

// verifyAnswer is a wallet's answer, made before a round: where it goes,
// the form (vp_token and state), and when it was made.
type verifyAnswer struct {
	uri, form string
	made      time.Time
}

// answer builds h's answer to ro at iat: vp_token maps the query's ID to
// the one presentation (§8.1).
func (h verifyHolder) answer(ro verifyRequestObject, queryID string, iat time.Time) (verifyAnswer, error) {
	p, err := h.present(ro.ClientID, ro.Nonce, iat)
	if err != nil {
		return verifyAnswer{}, err
	}
	vp, err := json.Marshal(map[string][]string{queryID: {p}})
	if err != nil {
		return verifyAnswer{}, err
	}
	return verifyAnswer{uri: ro.ResponseURI, form: url.Values{"vp_token": {string(vp)}, "state": {ro.State}}.Encode(), made: iat}, nil
}

// postAnswer posts an answer to its response URI (§8.2) and wants the
// 200 of an answer taken. It is the operation cedula bench verify times.
func postAnswer(ctx context.Context, hc *http.Client, a verifyAnswer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.uri, strings.NewReader(a.form))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var out map[string]any
	return doJSON(hc, req, http.StatusOK, &out)
}

// verifyQueryID is the ID of the one credential query of the bench's
// requests.
const verifyQueryID = "pid"

// verifyBench is what cedula bench verify sets up: the agency, its
// citizens' wallets and the request it makes.
type verifyBench struct {
	o       benchVerifyOptions
	api     *agencyAPI
	holders []verifyHolder
	next    atomic.Int64
	create  []byte // the body of POST /verification/requests
}

// newVerifyBench checks the flags, logs the agency in, registers the
// citizens and issues each a PID bound to a key of the bench's.
func newVerifyBench(ctx context.Context, o benchVerifyOptions, stdout io.Writer) (*verifyBench, error) {
	var bad []error
	if o.url == "" || o.clientID == "" || o.keyFile == "" {
		bad = append(bad, errors.New("--url, --client-id and --client-key are required"))
	}
	if o.citizens < 1 || o.rounds < 1 || o.v2 <= 0 {
		bad = append(bad, fmt.Errorf("--citizens %d, --rounds %d, --v2-duration %v: want at least 1, 1 and more than 0", o.citizens, o.rounds, o.v2))
	}
	if err := errors.Join(bad...); err != nil {
		return nil, err
	}
	key, err := readClientKey(o.keyFile)
	if err != nil {
		return nil, err
	}
	hc := bench.NewHTTPClient(2 * o.load.concurrency)
	b := &verifyBench{o: o}
	if b.api, err = newAgencyAPI(ctx, hc, o.url, o.clientID, key, strings.Join([]string{scopes.Admin, scopes.Issuance, scopes.Verification}, " ")); err != nil {
		return nil, err
	}
	is, err := discoverIssuer(ctx, hc, o.url)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(is.configurations, "pid") {
		return nil, fmt.Errorf("%s: the issuer does not offer pid (%v)", b.api.base, is.configurations)
	}
	start := time.Now()
	subs, err := b.api.createCitizens(ctx, o.citizens)
	if err != nil {
		return nil, err
	}
	b.holders = make([]verifyHolder, len(subs))
	var vct string
	var mu sync.Mutex
	_, _, err = bench.Loop(ctx, len(subs), min(len(subs), 8), func(ctx context.Context, _ int) error {
		i := int(b.next.Add(1) - 1)
		cred, key, err := b.issuePID(ctx, is, subs[i])
		if err != nil {
			return fmt.Errorf("issue a PID: %w", err)
		}
		if b.holders[i], err = newVerifyHolder(cred, verifyClaim, key); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if vct == "" {
			vct, err = credentialVCT(cred)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "verify: %d citizens registered, a PID issued to each, in %.1fs (untimed)\n", len(subs), time.Since(start).Seconds())
	b.create, err = json.Marshal(map[string]any{"purpose": demo.ResidenceCheckPurposeID, "response_mode": "direct_post",
		"dcql_query": map[string]any{"credentials": []any{map[string]any{"id": verifyQueryID, "format": "dc+sd-jwt",
			"meta": map[string]any{"vct_values": []string{vct}}, "claims": []any{map[string]any{"path": []string{verifyClaim}}}}}}})
	return b, err
}

// issuePID issues sub a PID through the pre-authorized flow, bound to a
// fresh holder key, and returns it with the key.
func (b *verifyBench) issuePID(ctx context.Context, is *vciIssuer, sub string) (string, *jose.ClientKey, error) {
	var created struct {
		URL    string `json:"credential_offer_url"`
		TxCode string `json:"tx_code"`
	}
	if err := b.api.post(ctx, "/issuance/offers", fmt.Appendf(nil, `{"subject":%q,"credential_configuration_id":"pid"}`, sub), &created); err != nil {
		return "", nil, fmt.Errorf("%s: offer: %w", b.api.base, err)
	}
	of, err := is.resolveOffer(ctx, created.URL, created.TxCode)
	if err != nil {
		return "", nil, err
	}
	w, err := is.redeem(ctx, of)
	if err != nil {
		return "", nil, err
	}
	nonce, err := is.fetchNonce(ctx)
	if err != nil {
		return "", nil, err
	}
	holders, err := newHolderKeys(1)
	if err != nil {
		return "", nil, err
	}
	req, err := w.credentialRequest(ctx, "pid", nonce, holders)
	if err != nil {
		return "", nil, err
	}
	creds, err := checkCredentials(is.hc, req, 1)
	if err != nil {
		return "", nil, err
	}
	return creds[0], holders[0], nil
}

// credentialVCT reads an SD-JWT VC's vct.
func credentialVCT(cred string) (string, error) {
	jwt, _, _ := strings.Cut(cred, "~")
	raw, err := jose.UnverifiedPayload([]byte(jwt))
	if err != nil {
		return "", err
	}
	var c struct {
		VCT string `json:"vct"`
	}
	if err := json.Unmarshal(raw, &c); err != nil || c.VCT == "" {
		return "", errors.New("the credential has no vct")
	}
	return c.VCT, nil
}

// request has the agency create a presentation request and the next
// holder's wallet fetch its request object and sign its answer. It
// returns the request's ID and the answer.
func (b *verifyBench) request(ctx context.Context) (string, verifyAnswer, error) {
	var created struct {
		ID         string `json:"id"`
		RequestURI string `json:"request_uri"`
	}
	if err := b.api.post(ctx, "/verification/requests", b.create, &created); err != nil {
		return "", verifyAnswer{}, fmt.Errorf("%s: create a request: %w", b.api.base, err)
	}
	obj, err := getRequestObject(ctx, b.api.hc, created.RequestURI)
	if err != nil {
		return "", verifyAnswer{}, err
	}
	ro, err := readRequestObject(obj)
	if err != nil {
		return "", verifyAnswer{}, err
	}
	h := b.holders[int(b.next.Add(1)%int64(len(b.holders)))]
	a, err := h.answer(ro, verifyQueryID, time.Now())
	return created.ID, a, err
}

// getRequestObject fetches a request object by reference (GET, §5.10).
func getRequestObject(ctx context.Context, hc *http.Client, uri string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/oauth-authz-req+jwt")
	res, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", req.URL.Path, err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, &statusError{method: req.Method, path: req.URL.Path, status: res.StatusCode, body: b}
	}
	return b, nil
}

// checkVerified has the agency read request id and wants it verified,
// the claim asked for in its result.
func (b *verifyBench) checkVerified(ctx context.Context, id string) error {
	var v struct {
		Status string `json:"status"`
		Result struct {
			Credentials []struct {
				Claims map[string]any `json:"claims"`
			} `json:"credentials"`
		} `json:"result"`
	}
	if err := b.api.get(ctx, "/verification/requests/"+url.PathEscape(id), &v); err != nil {
		return err
	}
	if v.Status != "verified" || len(v.Result.Credentials) != 1 || v.Result.Credentials[0].Claims[verifyClaim] == nil {
		return fmt.Errorf("request %s: status %q with %d credentials, want verified with the %s", id, v.Status, len(v.Result.Credentials), verifyClaim)
	}
	return nil
}

func benchVerify(ctx context.Context, o benchVerifyOptions, stdout io.Writer) error {
	b, err := newVerifyBench(ctx, o, stdout)
	if err != nil {
		return fmt.Errorf("cedula bench verify: %w", err)
	}
	// One answer first, read back by the agency: a misconfigured client
	// or server fails here, clearly; and the verifier's caches (issuer
	// keys, type metadata, status list) are warm before anything is
	// measured, as they are on a server in use.
	id, first, err := b.request(ctx)
	if err == nil {
		err = postAnswer(ctx, b.api.hc, first)
	}
	if err == nil {
		err = b.checkVerified(ctx, id)
	}
	if err != nil {
		return fmt.Errorf("cedula bench verify: first answer: %w", err)
	}
	check, err := bench.NewES256Check()
	if err != nil {
		return err
	}
	lf := &o.load
	fmt.Fprintf(stdout, "verify: %s, client %s, purpose %s, PID [%s], %d holders, concurrency %d, warm-up %v, duration %v\n",
		b.api.base, o.clientID, demo.ResidenceCheckPurposeID, verifyClaim, len(b.holders), lf.concurrency, lf.warmup, lf.duration)
	fmt.Fprintln(stdout, "verify: each answer timed: one POST to response_uri and its 200; "+
		"requests created, request objects fetched and KB-JWTs signed before each round, untimed")
	answers := stock[verifyAnswer]{noun: "answers", flag: "--requests"}
	mk := func(ctx context.Context) (verifyAnswer, error) {
		_, a, err := b.request(ctx)
		return a, err
	}
	if o.requests <= 0 {
		// Making an answer costs more than verifying it: the first
		// round is sized by a probe, as later ones by the busiest round.
		rate, err := probeRate(ctx, lf.concurrency, probeTime, mk, func(ctx context.Context, a verifyAnswer) error { return postAnswer(ctx, b.api.hc, a) })
		if err != nil {
			return fmt.Errorf("cedula bench verify: probe: %w", err)
		}
		// The probe reads low — 0.4 to 1.1 × a round's rate on a
		// 2-core machine: it is short and follows the making at once —
		// so three times its rate.
		answers.guess = (probeMargin*int(rate*(lf.warmup+lf.duration).Seconds()) + 1) * 5 / 4
		fmt.Fprintf(stdout, "probe: %.0f answers/s verified (untimed), so %d for the first round\n", rate, answers.guess)
	}
	sc := scenario{name: "verify",
		op: func(ctx context.Context) error {
			a, err := answers.take(ctx)
			if err != nil {
				return err
			}
			return postAnswer(ctx, b.api.hc, a)
		},
	}
	before := func(ctx context.Context) error {
		answers.items = slices.DeleteFunc(answers.items, func(a verifyAnswer) bool { return time.Since(a.made) > answerMaxAge })
		return b.api.login(ctx)
	}
	sc.prepare, sc.done = answers.rounds(o.requests, lf, stdout, before, mk)
	return compareWithV2(ctx, sc, check, o.rss.source(o.url, b.api.hc), lf, o, stdout)
}

// compareWithV2 runs o.rounds rounds of sc, each followed by V₂ for o.v2,
// and prints the table, the medians and their ratio; below o.minRatio
// (when positive) it fails. After each round of sc it prints the server's
// RSS, which rss reads (when not nil).
func compareWithV2(ctx context.Context, sc scenario, check *bench.ES256Check, rss func(context.Context) (bench.RSS, error),
	lf *loadFlags, o benchVerifyOptions, stdout io.Writer) error {
	var results []bench.Result
	var ops, v2s []float64
	workers := 0
	for i := range o.rounds {
		res, err := sc.run(ctx, lf, stdout)
		if err != nil {
			return err
		}
		results = append(results, res)
		ops = append(ops, res.Throughput)
		if rss != nil {
			printRSS(stdout, fmt.Sprintf("the server after %s round %d", sc.name, i+1), rss)
		}
		v, err := bench.MeasureV2(ctx, check, 0, o.v2)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "reference V₂: %s\n", v)
		v2s = append(v2s, v.Rate)
		workers = v.Workers
	}
	fmt.Fprintln(stdout)
	if err := bench.WriteTable(stdout, results...); err != nil {
		return err
	}
	opT, vT := median(ops), median(v2s)
	ratio := opT / vT
	verdict := ""
	if o.minRatio > 0 {
		verdict = fmt.Sprintf(" (target ≥ %.2f: met)", o.minRatio)
		if ratio < o.minRatio {
			verdict = fmt.Sprintf(" (target ≥ %.2f: NOT met)", o.minRatio)
		}
	}
	fmt.Fprintf(stdout, "reference V₂ = %.0f ES256 verifications/s on %d goroutines (median of %d)\n", vT, workers, len(v2s))
	fmt.Fprintf(stdout, "median %s/median V₂ over %d rounds = %.1f / %.0f = %.3f%s\n", sc.name, len(ops), opT, vT, ratio, verdict)
	if o.minRatio > 0 && ratio < o.minRatio {
		return &belowTarget{name: sc.name, ratio: ratio, min: o.minRatio, of: "V₂"}
	}
	return nil
}
