package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cedula/cedula/internal/bench"
	"github.com/cedula/cedula/internal/random"
	"github.com/cedula/cedula/issuer/demo"
	"github.com/cedula/cedula/journeys"
	"github.com/cedula/cedula/journeys/rules"
	"github.com/cedula/cedula/journeys/rules/rulestest"
)

// The targets of issue 14 (journeys and alerts).
const (
	// segmentTarget is the citizens a segment's rule is evaluated over
	// per second, on 2 cores.
	segmentTarget = 200_000
	// alertsTargetP99 is the time within which a broadcast alert reaches
	// every connected wallet, at the 99th percentile of 10,000 streams.
	alertsTargetP99 = 2 * time.Second
)

// benchJourneysOptions are the flags of cedula bench journeys.
type benchJourneysOptions struct {
	mode string
	// segment
	population, rounds, workers int
	minRate                     float64
	// alerts
	url, clientID, keyFile    string
	citizens, streams, events int
	wait, maxP99              time.Duration
	rss                       rssFlags
}

func newBenchJourneysCmd() *cobra.Command {
	var o benchJourneysOptions
	cmd := &cobra.Command{
		Use:   "journeys",
		Short: "Measure the journeys room: segment selection, and alert fan-out to wallets' streams",
		Long: `Measure the journeys room (issue 14).

--mode segment, in this process, no server: --population synthetic citizens
(journeys/rules/rulestest: the same every run) as values of the default
catalogue, and the segment rule compiled against it,

    ` + rulestest.Rule + `

then --rounds times rules.Select over them all on --workers goroutines
(default GOMAXPROCS), timed, and the same selection in plain Go over the
same people (no CEL: the ceiling), timed, the two checked to agree. It prints citizens per second of each and their
ratio per round, then the medians. Target (issue 14): ≥ 200,000 citizens/s
on 2 cores (--min-rate; 0: never fail).

--mode alerts, against the server at --url: not timed, the agency
(--client-id, with scopes cedula:admin and cedula:alerts, private_key_jwt —
demo-machine in demo mode) creates --citizens citizens, whose wallet apps
enrol and log in as ` + "`cedula bench wallet`" + `'s do; the apps open
--streams inbox streams (GET /mobile/v1/inbox/events) spread over them, and
the bench waits until every one is answered and what each got on opening
(the alerts in force) is read. Then --events times the agency publishes a
broadcast CAP 1.2 alert (POST /alerts, application/cap+xml; status Test, a
new identifier each time, expiring in 15 minutes), and each stream is timed
from the POST to the arrival of its alert event with the alert's key: the
alert checked, sealed, stored with its audit entry, the hub woken, every
stream written and flushed, the event read and decoded here. It prints per
event how many streams it reached and p50, p95, p99 and max. Target (issue
14): every stream reached, p99 ≤ 2 s (--max-p99; 0: never fail). The server
needs its rate limits raised as for bench wallet (docs/performance.md), and
both processes as many file descriptors as streams.`,
		Example: `  cedula bench journeys --mode segment
  cedula bench journeys --mode alerts --url http://localhost:8080 --client-id demo-machine --client-key data/demo-machine.jwk`,
		Args: noArgs,
		RunE: runWith(&o, benchJourneys),
	}
	fs := cmd.Flags()
	fs.StringVar(&o.mode, "mode", "segment", "what to measure: segment (no server) or alerts (against --url)")
	fs.IntVar(&o.population, "population", 1_000_000, "segment: synthetic citizens")
	fs.IntVar(&o.rounds, "rounds", 3, "segment: rounds, each the rule and its ceiling over the whole population; the medians are reported")
	fs.IntVar(&o.workers, "workers", 0, "segment: goroutines evaluating at once (0: GOMAXPROCS)")
	fs.Float64Var(&o.minRate, "min-rate", segmentTarget, "segment: fail when the median citizens/s is below this (0: never)")
	fs.StringVar(&o.url, "url", "http://localhost:8080", "alerts: the server's public `URL`")
	fs.StringVar(&o.clientID, "client-id", demo.MachineID, "alerts: an agency client with scopes cedula:admin and cedula:alerts, private_key_jwt")
	fs.StringVar(&o.keyFile, "client-key", filepath.Join("data", demo.MachineID+".jwk"), "alerts: `file` with the client's private JWK")
	fs.IntVar(&o.citizens, "citizens", 100, "alerts: citizens to create, enrol and log in, each with the wallet app")
	fs.IntVar(&o.streams, "streams", 10000, "alerts: inbox streams to hold open, spread over the citizens")
	fs.IntVar(&o.events, "events", 3, "alerts: alerts published, one after the other, each with a new identifier")
	fs.DurationVar(&o.wait, "wait", 30*time.Second, "alerts: how long an alert may take to reach every stream")
	fs.DurationVar(&o.maxP99, "max-p99", alertsTargetP99, "alerts: fail when an alert's p99 is above this (0: never)")
	o.rss.add(fs)
	return cmd
}

func benchJourneys(ctx context.Context, o benchJourneysOptions, stdout io.Writer) error {
	var err error
	switch o.mode {
	case "segment":
		err = benchSegment(ctx, o, stdout)
	case "alerts":
		err = benchAlerts(ctx, o, stdout)
	default:
		err = fmt.Errorf("--mode %q: want segment or alerts", o.mode)
	}
	if err != nil {
		return fmt.Errorf("cedula bench journeys: %w", err)
	}
	return nil
}

// benchSegment times rules.Select and the plain-Go ceiling over the same
// synthetic population, round after round.
func benchSegment(ctx context.Context, o benchJourneysOptions, stdout io.Writer) error {
	var bad []error
	if o.population < 1 || o.rounds < 1 || o.workers < 0 {
		bad = append(bad, fmt.Errorf("--population %d, --rounds %d, --workers %d: want at least 1, 1 and 0", o.population, o.rounds, o.workers))
	}
	if err := errors.Join(bad...); err != nil {
		return err
	}
	workers := o.workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	start := time.Now()
	ps, cs := rulestest.Population(o.population)
	made := time.Since(start)
	rule, err := rules.Default().CompileRule(rulestest.Rule, rulestest.RuleCategories)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "segment: %d synthetic citizens (made in %.1fs, untimed), %d workers (GOMAXPROCS %d, %d CPUs); rule %s\n",
		len(cs), made.Seconds(), workers, runtime.GOMAXPROCS(0), runtime.NumCPU(), rulestest.Rule)
	var celRates, ceilRates, ratios []float64
	for r := range o.rounds {
		runtime.GC() // each timing starts from the same heap
		t0 := time.Now()
		res, err := rules.Select(ctx, rules.Query{Rule: rule, Now: time.Now(), Workers: workers}, slices.Values(cs))
		if err != nil {
			return err
		}
		celRate := float64(len(cs)) / time.Since(t0).Seconds()
		// One pass, as for CEL: repeated passes would time the collector
		// marking the population's heap as much as the selection.
		runtime.GC()
		t0 = time.Now()
		matched := len(rulestest.Ceiling(ps, workers))
		ceilRate := float64(len(ps)) / time.Since(t0).Seconds()
		if res.Evaluated != len(cs) || res.Undecided != 0 || res.Matched != matched {
			return fmt.Errorf("round %d: CEL evaluated %d, matched %d, undecided %d; plain Go matched %d of %d: they must agree",
				r+1, res.Evaluated, res.Matched, res.Undecided, matched, len(ps))
		}
		celRates, ceilRates = append(celRates, celRate), append(ceilRates, ceilRate)
		ratios = append(ratios, celRate/ceilRate)
		fmt.Fprintf(stdout, "segment: round %d: CEL %.0f citizens/s, ceiling %.0f citizens/s, CEL/ceiling %.3f (%d matched)\n",
			r+1, celRate, ceilRate, celRate/ceilRate, matched)
	}
	rate := median(celRates)
	verdict := "met"
	if rate < segmentTarget {
		verdict = "NOT met"
	}
	fmt.Fprintf(stdout, "segment: median of %d rounds: CEL %.0f citizens/s, ceiling %.0f citizens/s, CEL/ceiling %.3f, on %d workers (target ≥ %d citizens/s on 2 cores: %s)\n",
		o.rounds, rate, median(ceilRates), median(ratios), workers, segmentTarget, verdict)
	if o.minRate > 0 && rate < o.minRate {
		return fmt.Errorf("segment: %.0f citizens/s, below --min-rate %.0f", rate, o.minRate)
	}
	return nil
}

// benchAlerts holds o.streams inbox streams open and times o.events
// broadcast alerts from their POST to their arrival on each stream.
func benchAlerts(ctx context.Context, o benchJourneysOptions, stdout io.Writer) error {
	var bad []error
	if o.url == "" || o.clientID == "" || o.keyFile == "" {
		bad = append(bad, errors.New("--url, --client-id and --client-key are required"))
	}
	if o.citizens < 1 || o.streams < 1 || o.events < 1 {
		bad = append(bad, fmt.Errorf("--citizens %d, --streams %d, --events %d: want at least 1 of each", o.citizens, o.streams, o.events))
	}
	if o.wait <= 0 {
		bad = append(bad, fmt.Errorf("--wait %v: want a positive time", o.wait))
	}
	if err := errors.Join(bad...); err != nil {
		return err
	}
	key, err := readClientKey(o.keyFile)
	if err != nil {
		return err
	}
	const setUpWorkers = 8
	b := &walletBench{o: benchWalletOptions{url: o.url, citizens: o.citizens, load: loadFlags{concurrency: setUpWorkers}},
		hc: bench.NewHTTPClient(2 * setUpWorkers)}
	if b.api, err = newAgencyAPI(ctx, b.hc, o.url, o.clientID, key, scopesAlertsBench); err != nil {
		return fmt.Errorf("%w (the client needs the scopes %s)", err, scopesAlertsBench)
	}
	b.mobile = b.api.base + "/mobile/v1"
	fmt.Fprintf(stdout, "alerts: %s, client %s, %d citizens, %d streams, %d events\n", b.api.base, o.clientID, o.citizens, o.streams, o.events)
	if err := b.setUpApps(ctx, stdout); err != nil {
		return err
	}
	rss := o.rss.source(o.url, b.hc)
	printRSS := func(when string) {
		if rss == nil {
			return
		}
		if r, err := rss(ctx); err == nil {
			fmt.Fprintf(stdout, "alerts: server RSS %s: %s\n", when, r)
		}
	}
	// Each app's token must outlive its streams (a stream ends when its
	// token expires).
	if err := b.relogin(ctx, time.Minute+time.Duration(o.events)*(o.wait+5*time.Second)); err != nil {
		return fmt.Errorf("log the apps in again: %w", setUpError(err))
	}
	printRSS("before the streams")
	start := time.Now()
	ss, err := openInboxStreams(ctx, sseClient(), b.apps, b.mobile, o.streams, b.count)
	if err != nil {
		if n := b.limited.Load(); n > 0 {
			return fmt.Errorf("%w: the server refused %d with 429: raise its rate_limits (docs/performance.md)", err, n)
		}
		return err
	}
	defer ss.close()
	opened := time.Since(start)
	dropped := ss.settle(time.Second, 30*time.Second)
	fmt.Fprintf(stdout, "alerts: %d streams open (%d citizens, about %d each) in %.1fs; %d events on opening (alerts in force), read\n",
		o.streams, len(b.apps), (o.streams+len(b.apps)-1)/len(b.apps), opened.Seconds(), dropped)
	printRSS(fmt.Sprintf("with %d streams", o.streams))

	run := random.Token(6)
	var p99s []time.Duration
	var failed []error
	for ev := range o.events {
		if err := b.api.login(ctx); err != nil {
			return err
		}
		ss.settle(200*time.Millisecond, 5*time.Second)
		id := fmt.Sprintf("cedula-bench-%s-%d", run, ev+1)
		var ans struct {
			Key string `json:"key"`
		}
		doc := benchAlert(id, time.Now())
		t0 := time.Now()
		if err := b.api.postAs(ctx, "/alerts", "application/cap+xml", doc, &ans); err != nil {
			return fmt.Errorf("event %d: publish: %w", ev+1, err)
		}
		answered := time.Since(t0)
		h, count, err := ss.await(ctx, ans.Key, t0, o.wait)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "alerts: event %d (%s): POST /alerts answered in %v; reached %d of %d streams; from the POST: p50 %v, p95 %v, p99 %v, max %v\n",
			ev+1, id, answered.Round(time.Millisecond), count, o.streams, h.Quantile(0.5).Round(time.Millisecond),
			h.Quantile(0.95).Round(time.Millisecond), h.Quantile(0.99).Round(time.Millisecond), h.Max().Round(time.Millisecond))
		p99s = append(p99s, h.Quantile(0.99))
		switch {
		case count < o.streams:
			failed = append(failed, fmt.Errorf("alerts: event %d reached %d of %d streams in %v (%d streams ended)", ev+1, count, o.streams, o.wait, ss.ended.Load()))
		case o.maxP99 > 0 && h.Quantile(0.99) > o.maxP99:
			failed = append(failed, fmt.Errorf("alerts: event %d: p99 %v, above --max-p99 %v", ev+1, h.Quantile(0.99), o.maxP99))
		}
	}
	printRSS(fmt.Sprintf("after %d events", o.events))
	worst := slices.Max(p99s)
	verdict := "met"
	if len(failed) > 0 || worst > alertsTargetP99 {
		verdict = "NOT met"
	}
	each := make([]string, len(p99s))
	for i, d := range p99s {
		each[i] = d.Round(time.Millisecond).String()
	}
	fmt.Fprintf(stdout, "alerts: %d events to %d streams: p99 %s; the worst %v (target every stream reached, p99 ≤ %v: %s)\n",
		o.events, o.streams, strings.Join(each, ", "), worst.Round(time.Millisecond), alertsTargetP99, verdict)
	return errors.Join(failed...)
}

// scopesAlertsBench are the scopes the alerts bench's agency needs: the
// citizens' set-up, and the alerts.
const scopesAlertsBench = "cedula:admin cedula:alerts"

// await reads the streams' arrivals until the alert key (active) reached
// every stream or wait passed, and returns the times from t0 to its first
// arrival on each stream and how many it reached.
func (s *inboxStreams) await(ctx context.Context, key string, t0 time.Time, wait time.Duration) (*bench.Histogram, int, error) {
	var h bench.Histogram
	got := make([]bool, len(s.streams))
	count := 0
	deadline := time.After(wait)
	for count < len(s.streams) {
		select {
		case a := <-s.arrivals:
			if a.event != "alert" || a.key != key || a.status != journeys.AlertActive || got[a.stream] {
				continue
			}
			got[a.stream] = true
			count++
			h.Record(a.at.Sub(t0))
		case <-deadline:
			return &h, count, nil
		case <-ctx.Done():
			return &h, count, ctx.Err()
		}
	}
	return &h, count, nil
}

// benchAlert is a broadcast CAP 1.2 alert (OASIS CAP 1.2 §3) with the
// identifier id, sent at sent and expiring 15 minutes later, of a real
// alert's size and shape (journeys/cap/testdata/flood.xml's: two languages,
// a polygon, a circle and geocodes), whose status Test (§3.2.1: technical
// testing only, all recipients disregard) and texts say what it is.
func benchAlert(id string, sent time.Time) []byte {
	// §3.3.2: UTC is written -00:00, never "Z".
	capTime := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05") + "-00:00" }
	return fmt.Appendf(nil, benchAlertXML, id, capTime(sent), capTime(sent.Add(15*time.Minute)))
}

// benchAlertXML is benchAlert's document: %[1]s the identifier, %[2]s the
// time sent, %[3]s the expiry.
const benchAlertXML = `<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>%[1]s</identifier>
  <sender>bench@cedula.example</sender>
  <sent>%[2]s</sent>
  <status>Test</status>
  <msgType>Alert</msgType>
  <source>cedula bench journeys</source>
  <scope>Public</scope>
  <note>A load test of the alerts' fan-out: not a real alert.</note>
  <info>
    <language>es-ES</language>
    <category>Met</category>
    <category>Geo</category>
    <event>Prueba: inundación fluvial</event>
    <responseType>Monitor</responseType>
    <urgency>Expected</urgency>
    <severity>Severe</severity>
    <certainty>Likely</certainty>
    <effective>%[2]s</effective>
    <expires>%[3]s</expires>
    <senderName>Cedula — prueba de carga</senderName>
    <headline>PRUEBA TÉCNICA: aviso rojo por crecida del río (no es un aviso real)</headline>
    <description>Este mensaje mide cuánto tarda un aviso en llegar a todas las carteras conectadas. Se espera que el río supere el nivel de desbordamiento a partir del mediodía; el embalse desembalsa 1.200 m³/s. Nada de esto es cierto.</description>
    <instruction>No haga nada: es una prueba. En un aviso real: evite los cauces, pasos inferiores y garajes; suba a plantas altas si vive junto al río; no cruce zonas inundadas en coche.</instruction>
    <contact>112</contact>
    <area>
      <areaDesc>Zona de prueba: riberas del río entre dos municipios</areaDesc>
      <polygon>39.2300,-0.5200 39.2300,-0.3800 39.1500,-0.3300 39.0900,-0.4100 39.1200,-0.4700 39.1700,-0.4500 39.2300,-0.5200</polygon>
      <geocode>
        <valueName>NUTS3</valueName>
        <value>ES523</value>
      </geocode>
    </area>
    <area>
      <areaDesc>Aguas abajo de la presa</areaDesc>
      <circle>39.1386,-0.6483 8</circle>
    </area>
  </info>
  <info>
    <language>en-US</language>
    <category>Met</category>
    <category>Geo</category>
    <event>Test: river flood</event>
    <responseType>Monitor</responseType>
    <urgency>Expected</urgency>
    <severity>Severe</severity>
    <certainty>Likely</certainty>
    <expires>%[3]s</expires>
    <senderName>Cedula — load test</senderName>
    <headline>TECHNICAL TEST: red warning, the river is rising (not a real alert)</headline>
    <description>This message measures how long an alert takes to reach every connected wallet. The river is expected to overflow its banks from midday; the dam is releasing 1,200 m³/s. None of this is true.</description>
    <instruction>Do nothing: this is a test. In a real alert: keep away from riverbeds, underpasses and garages; go upstairs if you live by the river; do not drive through flooded roads.</instruction>
    <contact>112</contact>
    <area>
      <areaDesc>Test area: the river's banks between two towns</areaDesc>
      <polygon>39.2300,-0.5200 39.2300,-0.3800 39.1500,-0.3300 39.0900,-0.4100 39.1200,-0.4700 39.1700,-0.4500 39.2300,-0.5200</polygon>
    </area>
  </info>
</alert>
`
