package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cedula/cedula/internal/bench"
)

// The SSE scenario's target (issue 12): an event reaches every stream
// within this, at the 99th percentile.
const sseTargetP99 = time.Second

// sseStream is one open inbox stream of a citizen's app.
type sseStream struct {
	app  int // index in walletBench.apps
	body io.ReadCloser
}

// arrival is an event a stream received.
type arrival struct {
	stream int
	kind   string
	at     time.Time
}

// sseClient is an HTTP client for streams: no overall timeout, no limit
// on connections (each stream holds one).
func sseClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   -1,
		ResponseHeaderTimeout: 30 * time.Second,
		DisableCompression:    true,
		// Small buffers: ten thousand connections in one process.
		ReadBufferSize: 4 << 10, WriteBufferSize: 4 << 10,
	}}
}

// runSSE opens --streams inbox streams, spread over the citizens' apps,
// then --events times has the agency change the status of every citizen's
// first credential (suspended, then valid again, …) and times each event
// from the agency's request to its arrival on each of the citizen's
// streams: the change committed, the citizen's wallet told, the message
// sealed and stored, the replica's hub woken, every stream written to.
func (b *walletBench) runSSE(ctx context.Context, rss func(context.Context) (bench.RSS, error), stdout io.Writer) error {
	n := b.o.streams
	if err := b.prepare(ctx); err != nil {
		return err
	}
	printRSS := func(when string) {
		if rss == nil {
			return
		}
		if r, err := rss(ctx); err == nil {
			fmt.Fprintf(stdout, "sse: server RSS %s: %s\n", when, r)
		}
	}
	printRSS("before the streams")
	hc := sseClient()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	streams := make([]sseStream, n)
	start := time.Now()
	held := ctx // the streams outlive the loop that opens them
	err := eachIndex(ctx, n, 64, func(_ context.Context, i int) error {
		a := i % len(b.apps)
		req, err := b.apps[a].mobileRequest(held, http.MethodGet, b.mobile+"/inbox/events", nil)
		if err != nil {
			return err
		}
		res, err := hc.Do(req)
		if err != nil {
			return err
		}
		if res.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<10))
			res.Body.Close()
			return b.count(&statusError{method: req.Method, path: req.URL.Path, status: res.StatusCode, body: bytes.TrimSpace(body)})
		}
		streams[i] = sseStream{app: a, body: res.Body}
		return nil
	})
	defer func() {
		for _, s := range streams {
			if s.body != nil {
				s.body.Close()
			}
		}
	}()
	if err != nil {
		return fmt.Errorf("open the streams: %w", err)
	}
	fmt.Fprintf(stdout, "sse: %d streams open (%d citizens, about %d each) in %.1fs\n", n, len(b.apps), (n+len(b.apps)-1)/len(b.apps),
		time.Since(start).Seconds())
	arrivals := make(chan arrival, n)
	var ended atomic.Int64
	var wg sync.WaitGroup
	for i, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			readEvents(s.body, i, arrivals)
			ended.Add(1)
		}()
	}
	time.Sleep(time.Second) // every stream's first bytes read
	printRSS(fmt.Sprintf("with %d streams", n))

	var failed []error
	status := []string{"suspended", "valid"}
	kinds := map[string]string{"suspended": "credential_suspended", "valid": "credential_reinstated"}
	for round := range b.o.events {
		st := status[round%2]
		want := kinds[st]
		sent := make([]time.Time, len(b.apps))
		// The agency's changes, as fast as it makes them.
		if err := b.api.login(ctx); err != nil {
			return err
		}
		t0 := time.Now()
		err := eachIndex(ctx, len(b.apps), 8, func(ctx context.Context, i int) error {
			sent[i] = time.Now()
			return b.api.setStatus(ctx, b.apps[i].credential, st)
		})
		if err != nil {
			return fmt.Errorf("event %d: %w", round+1, err)
		}
		changes := time.Since(t0)
		var h bench.Histogram
		got := make([]bool, n)
		count := 0
		deadline := time.After(30 * time.Second)
	wait:
		for count < n {
			select {
			case a := <-arrivals:
				if a.kind != want || got[a.stream] {
					continue
				}
				got[a.stream] = true
				count++
				h.Record(a.at.Sub(sent[streams[a.stream].app]))
			case <-deadline:
				break wait
			}
		}
		last := time.Since(t0)
		fmt.Fprintf(stdout, "sse: event %d (%s): %d agency changes in %.2fs; reached %d of %d streams, the last %.2fs after the first change; "+
			"per stream from its citizen's change: p50 %v, p99 %v, max %v\n", round+1, want, len(b.apps), changes.Seconds(), count, n,
			last.Seconds(), h.Quantile(0.5).Round(time.Millisecond), h.Quantile(0.99).Round(time.Millisecond), h.Quantile(1).Round(time.Millisecond))
		switch {
		case count < n:
			failed = append(failed, fmt.Errorf("sse: event %d reached %d of %d streams in 30 s (%d streams ended)", round+1, count, n, ended.Load()))
		case h.Quantile(0.99) > sseTargetP99:
			failed = append(failed, fmt.Errorf("sse: event %d: p99 %v, above the target %v", round+1, h.Quantile(0.99), sseTargetP99))
		}
	}
	printRSS(fmt.Sprintf("after %d events", b.o.events))
	cancel()
	for _, s := range streams {
		if s.body != nil {
			s.body.Close()
		}
	}
	wg.Wait()
	return errors.Join(failed...)
}

// readEvents reads a stream's events until it ends, sending each
// message's kind with its time of arrival. Not mobileclient.Events: with
// ten thousand streams in one process, one goroutine and a 2 KiB buffer
// a stream, and the arrival timed at the line itself.
func readEvents(body io.Reader, stream int, out chan<- arrival) {
	r := bufio.NewReaderSize(body, 2<<10)
	for {
		line, err := r.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
		if !bytes.HasPrefix(line, []byte("data: ")) {
			continue
		}
		at := time.Now()
		var m struct {
			Kind string `json:"kind"`
		}
		if json.Unmarshal(bytes.TrimSpace(line[len("data: "):]), &m) == nil {
			out <- arrival{stream: stream, kind: m.Kind, at: at}
		}
	}
}
