package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints results as an aligned table, one row each, followed by
// the first error of every result that had failures.
func WriteTable(w io.Writer, results ...Result) error {
	// Right-aligned numbers; names padded to one width so they read
	// left-aligned.
	width := len("scenario")
	for _, r := range results {
		width = max(width, len(r.Name))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\tconc\twindow\tok\terrors\tops/s\tp50\tp95\tp99\tmax\t\n", width, "scenario")
	for _, r := range results {
		fmt.Fprintf(tw, "%-*s\t%d\t%.1fs\t%d\t%d\t%.1f\t%s\t%s\t%s\t%s\t\n",
			width, r.Name, r.Concurrency, r.Elapsed.Seconds(), r.Ops, r.Errors, r.Throughput,
			FormatDuration(r.P50), FormatDuration(r.P95), FormatDuration(r.P99), FormatDuration(r.Max))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range results {
		if r.Errors > 0 {
			if _, err := fmt.Fprintf(w, "%s: %d errors; first: %s\n", r.Name, r.Errors, oneLine(r.FirstError)); err != nil {
				return err
			}
		}
	}
	return nil
}

// FormatDuration prints d with three significant digits in a unit that
// suits it: 850ns, 12.3µs, 4.56ms, 1.20s.
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d.Nanoseconds())
	case d < time.Millisecond:
		return sig3(float64(d)/float64(time.Microsecond)) + "µs"
	case d < time.Second:
		return sig3(float64(d)/float64(time.Millisecond)) + "ms"
	default:
		return sig3(d.Seconds()) + "s"
	}
}

func sig3(v float64) string {
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// oneLine shortens an error message to one line of at most 200 bytes.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
