package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cedula/cedula/internal/bench"
)

// vciConcurrency is the virtual wallets of the issuance scenarios.
const vciConcurrency = 50

// benchVCIOptions are the flags of cedula bench issue and credential.
type benchVCIOptions struct {
	load                           loadFlags
	rss                            rssFlags
	compare                        compareFlags
	url, clientID, keyFile, typeID string
	citizens, batch, offers        int
}

// add adds the flags of the scenario called name.
func (o *benchVCIOptions) add(fs *pflag.FlagSet, name string) {
	o.load.add(fs, vciConcurrency)
	fs.StringVar(&o.url, "url", "", "the server's credential issuer `URL` (required)")
	fs.StringVar(&o.clientID, "client-id", "", "an agency client with scopes cedula:admin and cedula:issuance, private_key_jwt, one of the type's issuers (required)")
	fs.StringVar(&o.keyFile, "client-key", "", "`file` with the client's private JWK (required)")
	fs.StringVar(&o.typeID, "type", "pid", "the credential configuration to issue (one issued at once, not on an officer's approval)")
	fs.IntVar(&o.batch, "batch", 1, "credentials (key proofs, each of its own key) a credential request asks for")
	fs.IntVar(&o.citizens, "citizens", 100, "citizens to create and offer credentials to, round robin")
	o.rss.add(fs)
	o.compare.add(fs, name, 0)
}

func newBenchIssueCmd() *cobra.Command {
	var o benchVCIOptions
	cmd := &cobra.Command{
		Use:   "issue",
		Short: "Load the credential issuer with whole pre-authorized flows (token, nonce, credential)",
		Long: `Load the OpenID4VCI credential issuer of the server at --url with whole
pre-authorized flows, each worker a virtual wallet. One flow, timed as one
call: a fresh ES256 DPoP key; the token request with the pre-authorized code
and the transaction code, with a DPoP proof; a c_nonce from the nonce
endpoint; the credential request with --batch key proofs (each of a fresh
ES256 key) and a DPoP proof bound to the token. The wallet's key generation
and signing run in this process, inside the timed flow.

Not timed: the agency's part. The client registers --citizens citizens
through the admin API, and before each round offers them credentials
(POST /issuance/offers, round robin) and resolves each offer by reference as
the wallet's scan would (GET): one offer per flow. The first round gets as
many offers as the agency makes in the round's length (warm-up and
duration); later rounds as many as the busiest round used and a quarter
more, or --offers. Offers are made while nothing is measured; a round that
runs out of them fails, as its figures would be wrong.

With --compare (the default) also measure J at the same concurrency and
print issue/J. The client needs the scopes cedula:admin and cedula:issuance,
private_key_jwt, and must be one of the type's issuers.`,
		Example: "  cedula bench issue --url http://localhost:8080 --client-id demo-machine --client-key data/demo-machine.jwk",
		Args:    noArgs,
		RunE:    runWith(&o, benchIssue),
	}
	o.add(cmd.Flags(), "issue")
	cmd.Flags().IntVar(&o.offers, "offers", 0, "offers to have ready before each round (0: sized as above)")
	return cmd
}

func newBenchCredentialCmd() *cobra.Command {
	var o benchVCIOptions
	cmd := &cobra.Command{
		Use:   "credential",
		Short: "Load the credential endpoint alone, with DPoP-bound tokens redeemed beforehand",
		Long: `Load the credential endpoint of the server at --url alone. Before the first
round (and again when the tokens would expire within a round) the client
registers --citizens citizens, offers them credentials and redeems one offer
per worker: each worker is a virtual wallet holding a DPoP-bound access
token, which asks for credentials again and again while it lives.

Timed, one call: a fresh ES256 holder key for each of --batch credentials,
its key proof signed over a c_nonce, a DPoP proof bound to the token
signed, and the credential request (POST) with its answer.

Not timed: the c_nonces. Each is single-use, so feeders (a quarter as many
as the workers) fetch them from the nonce endpoint while the round runs and
hand one to each request: the server answers a nonce request beside each
credential request, as it would for real wallets, but only the credential
request is in the latency. The run prints how often a request had to wait
for a nonce (that wait would be in its latency).

With --compare (the default) also measure J at the same concurrency and
print credential/J. The client needs the scopes cedula:admin and
cedula:issuance, private_key_jwt, and must be one of the type's issuers.`,
		Example: "  cedula bench credential --url http://localhost:8080 --client-id demo-machine --client-key data/demo-machine.jwk",
		Args:    noArgs,
		RunE:    runWith(&o, benchCredential),
	}
	o.add(cmd.Flags(), "credential")
	return cmd
}

// vciBench is what both issuance scenarios set up: the agency that makes
// offers, its citizens, and the issuer as wallets find it.
type vciBench struct {
	o    benchVCIOptions
	api  *agencyAPI
	is   *vciIssuer
	subs []string
	next atomic.Int64
}

// newVCIBench checks the flags, logs the agency in, reads the issuer's
// metadata and registers the citizens.
func newVCIBench(ctx context.Context, o benchVCIOptions) (*vciBench, error) {
	var bad []error
	if o.url == "" || o.clientID == "" || o.keyFile == "" {
		bad = append(bad, errors.New("--url, --client-id and --client-key are required"))
	}
	if o.citizens < 1 || o.batch < 1 {
		bad = append(bad, fmt.Errorf("--citizens %d, --batch %d: want at least 1 each", o.citizens, o.batch))
	}
	if err := errors.Join(bad...); err != nil {
		return nil, err
	}
	key, err := readClientKey(o.keyFile)
	if err != nil {
		return nil, err
	}
	hc := bench.NewHTTPClient(2 * o.load.concurrency)
	b := &vciBench{o: o}
	if b.api, err = newAgencyAPI(ctx, hc, o.url, o.clientID, key, "cedula:admin cedula:issuance"); err != nil {
		return nil, err
	}
	if b.is, err = discoverIssuer(ctx, hc, o.url); err != nil {
		return nil, err
	}
	if !slices.Contains(b.is.configurations, o.typeID) {
		return nil, fmt.Errorf("--type %q: the issuer offers %v", o.typeID, b.is.configurations)
	}
	if o.batch > b.is.batchSize {
		return nil, fmt.Errorf("--batch %d: the issuer's batch_size is %d", o.batch, b.is.batchSize)
	}
	if b.subs, err = b.api.createCitizens(ctx, o.citizens); err != nil {
		return nil, err
	}
	return b, nil
}

// offer has the agency offer the next citizen a credential and resolves
// the offer by reference as the citizen's wallet would.
func (b *vciBench) offer(ctx context.Context) (vciOffer, error) {
	sub := b.subs[int(b.next.Add(1)%int64(len(b.subs)))]
	var created struct {
		URL    string `json:"credential_offer_url"`
		TxCode string `json:"tx_code"`
	}
	body := fmt.Appendf(nil, `{"subject":%q,"credential_configuration_id":%q}`, sub, b.o.typeID)
	if err := b.api.post(ctx, "/issuance/offers", body, &created); err != nil {
		return vciOffer{}, fmt.Errorf("%s: offer: %w", b.api.base, err)
	}
	return b.is.resolveOffer(ctx, created.URL, created.TxCode)
}

// flow is one virtual wallet's whole flow with offer o: token, nonce,
// credential.
func (b *vciBench) flow(ctx context.Context, o vciOffer) error {
	w, err := b.is.redeem(ctx, o)
	if err != nil {
		return err
	}
	nonce, err := b.is.fetchNonce(ctx)
	if err != nil {
		return err
	}
	return w.credential(ctx, b.o.typeID, nonce, b.o.batch)
}

// header prints what the run does.
func (b *vciBench) header(stdout io.Writer, name, what string) {
	lf := &b.o.load
	fmt.Fprintf(stdout, "%s: %s, client %s, type %s, %d credential(s) a request, %d citizens, concurrency %d, warm-up %v, duration %v\n",
		name, b.is.id, b.o.clientID, b.o.typeID, b.o.batch, len(b.subs), lf.concurrency, lf.warmup, lf.duration)
	fmt.Fprintf(stdout, "%s: %s\n", name, what)
}

func benchIssue(ctx context.Context, o benchVCIOptions, stdout io.Writer) error {
	b, err := newVCIBench(ctx, o)
	if err != nil {
		return fmt.Errorf("cedula bench issue: %w", err)
	}
	// One flow first: a misconfigured client or type fails here, clearly.
	first, err := b.offer(ctx)
	if err == nil {
		err = b.flow(ctx, first)
	}
	if err != nil {
		return fmt.Errorf("cedula bench issue: first flow: %w", err)
	}
	b.header(stdout, "issue", "each flow timed: token (pre-authorized code, tx_code, DPoP), nonce, credential (key proofs, DPoP); "+
		"the agency's offers made before each round, untimed")
	lf := &o.load
	var offers stock[vciOffer]
	sc := scenario{name: "issue",
		op: func(ctx context.Context) error {
			of, err := offers.take(ctx)
			if err != nil {
				return err
			}
			return b.flow(ctx, of)
		},
	}
	sc.prepare, sc.done = offers.rounds(o.offers, lf, stdout, b.api.login, b.offer)
	return compareWithJ(ctx, sc, o.rss.source(o.url, b.api.hc), lf, o.compare, stdout, nil)
}

func benchCredential(ctx context.Context, o benchVCIOptions, stdout io.Writer) error {
	b, err := newVCIBench(ctx, o)
	if err != nil {
		return fmt.Errorf("cedula bench credential: %w", err)
	}
	lf := &o.load
	wallets := make(chan *wallet, lf.concurrency)
	var walletsExpire time.Time
	// redeemAll gives every worker a wallet with a fresh token.
	redeemAll := func(ctx context.Context) error {
		if err := b.api.login(ctx); err != nil {
			return err
		}
		for len(wallets) > 0 {
			<-wallets
		}
		var mu sync.Mutex
		_, _, err := bench.Loop(ctx, lf.concurrency, min(lf.concurrency, 8), func(ctx context.Context, _ int) error {
			of, err := b.offer(ctx)
			if err != nil {
				return err
			}
			w, err := b.is.redeem(ctx, of)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			if walletsExpire.IsZero() || w.expires.Before(walletsExpire) {
				walletsExpire = w.expires
			}
			wallets <- w
			return nil
		})
		return err
	}
	if err := redeemAll(ctx); err != nil {
		return fmt.Errorf("cedula bench credential: redeem offers: %w", err)
	}
	// One request first: a misconfigured type fails here, clearly.
	w := <-wallets
	nonce, err := b.is.fetchNonce(ctx)
	if err == nil {
		err = w.credential(ctx, o.typeID, nonce, o.batch)
	}
	wallets <- w
	if err != nil {
		return fmt.Errorf("cedula bench credential: first request: %w", err)
	}
	feeders := max(2, lf.concurrency/4)
	b.header(stdout, "credential", fmt.Sprintf("%d wallets, one DPoP-bound token each; each request timed: holder keys, key proofs, DPoP, POST; "+
		"c_nonces fetched beside it by %d feeders, untimed", lf.concurrency, feeders))
	nonces := &nonceFeeder{is: b.is}
	sc := scenario{name: "credential",
		op: func(ctx context.Context) error {
			nonce, err := nonces.take(ctx)
			if err != nil {
				return err
			}
			w := <-wallets
			defer func() { wallets <- w }()
			return w.credential(ctx, o.typeID, nonce, o.batch)
		},
		prepare: func(ctx context.Context) error {
			// A token must outlive the round, with a minute to spare.
			if time.Until(walletsExpire) < lf.warmup+lf.duration+time.Minute {
				walletsExpire = time.Time{}
				if err := redeemAll(ctx); err != nil {
					return fmt.Errorf("redeem offers: %w", err)
				}
			}
			nonces.start(ctx, feeders, 2*lf.concurrency)
			return nil
		},
		done: func(bench.Result) error {
			if waits := nonces.stop(); waits > 0 {
				fmt.Fprintf(stdout, "nonce feeders: %d requests waited for a c_nonce (the wait is in their latency)\n", waits)
			}
			return nil
		},
	}
	return compareWithJ(ctx, sc, o.rss.source(o.url, b.api.hc), lf, o.compare, stdout, nil)
}

// stock is a supply of single-use items (offers) made before a round,
// untimed, for the round's calls to take one each.
type stock[T any] struct {
	items []T
	next  atomic.Int64
	dry   atomic.Bool
	// most is the most items a round took.
	most int
	// guess, when positive, is how many items the first fill makes
	// before any round has run (from a probe), instead of a timed fill.
	guess int
	// noun names the items in what rounds prints ("offers" when empty),
	// flag the option that fixes their number ("--offers" when empty).
	noun, flag string
}

// names returns the stock's noun and flag, defaults filled in.
func (s *stock[T]) names() (noun, flag string) {
	noun, flag = cmp.Or(s.noun, "offers"), cmp.Or(s.flag, "--offers")
	return noun, flag
}

// fill makes items with mk from conc workers: fixed in all when fixed
// is positive; before the first round s.guess, or without a guess as
// many as they make in d; later as many as the busiest round took and a
// quarter more. It returns how many it made.
func (s *stock[T]) fill(ctx context.Context, fixed int, d time.Duration, conc int, mk func(context.Context) (T, error)) (int, error) {
	want := max(s.most*5/4, 1)
	if s.most == 0 && s.guess > 0 {
		want = s.guess
	}
	if fixed > 0 {
		want = fixed
	}
	want -= len(s.items)
	if want <= 0 {
		return 0, nil
	}
	var mu sync.Mutex
	var made []T
	until := time.Time{}
	if fixed <= 0 && s.most == 0 && s.guess <= 0 {
		until, want = time.Now().Add(d), int(^uint(0)>>2)
	}
	_, _, err := bench.Loop(ctx, want, conc, func(ctx context.Context, _ int) error {
		if !until.IsZero() && time.Now().After(until) {
			return errEnough
		}
		it, err := mk(ctx)
		if err != nil {
			return err
		}
		mu.Lock()
		made = append(made, it)
		mu.Unlock()
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return 0, err
	}
	s.items = append(s.items, made...)
	return len(made), nil
}

// rounds returns a scenario's prepare and done for calls that take an
// item each: before each round, untimed, before (when not nil) and then
// fill with mk, fixed items or sized by the rounds (see fill); after it,
// a round that ran out is an error, as its figures are wrong.
func (s *stock[T]) rounds(fixed int, lf *loadFlags, stdout io.Writer, before func(context.Context) error,
	mk func(context.Context) (T, error)) (prepare func(context.Context) error, done func(bench.Result) error) {
	noun, flag := s.names()
	prepare = func(ctx context.Context) error {
		if before != nil {
			if err := before(ctx); err != nil {
				return err
			}
		}
		start := time.Now()
		n, err := s.fill(ctx, fixed, lf.warmup+lf.duration, lf.concurrency, mk)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %d made in %.1fs (untimed), %d ready for the round\n", noun, n, time.Since(start).Seconds(), s.ready())
		return nil
	}
	done = func(bench.Result) error {
		if used, dry := s.settle(); dry {
			return fmt.Errorf("the round used all %d %s made for it, so its figures are wrong; rerun with %s %d", used, noun, flag, 2*used)
		}
		return nil
	}
	return prepare, done
}

// errEnough stops a fill whose time is up.
var errEnough = errors.New("enough")

// ready returns how many items are ready for the next round.
func (s *stock[T]) ready() int { return len(s.items) }

// take returns the next item. When none is left it marks the stock dry
// and waits for the round to end: its figures will be thrown away.
func (s *stock[T]) take(ctx context.Context) (T, error) {
	if i := int(s.next.Add(1) - 1); i < len(s.items) {
		return s.items[i], nil
	}
	s.dry.Store(true)
	<-ctx.Done()
	var zero T
	return zero, ctx.Err()
}

// settle drops the items a round took and reports how many that was and
// whether the round ran out.
func (s *stock[T]) settle() (int, bool) {
	used := min(int(s.next.Load()), len(s.items))
	s.items = slices.Clone(s.items[used:])
	s.next.Store(0)
	s.most = max(s.most, used)
	return used, s.dry.Swap(false)
}

// nonceFeeder fetches c_nonces while a round runs, for its requests to
// take one each.
type nonceFeeder struct {
	is     *vciIssuer
	ch     chan fedNonce
	cancel context.CancelFunc
	wg     sync.WaitGroup
	waits  atomic.Int64
}

// fedNonce is a fetched nonce, or why it could not be fetched.
type fedNonce struct {
	nonce string
	err   error
}

// start runs n feeders that keep up to ready nonces waiting, and returns
// once that many are.
func (f *nonceFeeder) start(ctx context.Context, n, ready int) {
	ctx, f.cancel = context.WithCancel(ctx)
	f.ch = make(chan fedNonce, ready)
	f.waits.Store(0)
	for range n {
		f.wg.Go(func() {
			for ctx.Err() == nil {
				nonce, err := f.is.fetchNonce(ctx)
				if ctx.Err() != nil {
					return
				}
				select {
				case f.ch <- fedNonce{nonce, err}:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	for len(f.ch) < cap(f.ch) && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
}

// take returns a nonce, counting a wait when none was ready.
func (f *nonceFeeder) take(ctx context.Context) (string, error) {
	var fed fedNonce
	select {
	case fed = <-f.ch:
	default:
		f.waits.Add(1)
		select {
		case fed = <-f.ch:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	return fed.nonce, fed.err
}

// stop stops the feeders, drops the nonces they fetched and returns how
// many requests waited for one.
func (f *nonceFeeder) stop() int64 {
	f.cancel()
	f.wg.Wait()
	return f.waits.Load()
}
