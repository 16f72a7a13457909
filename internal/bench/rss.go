package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// RSS is how much memory a process holds resident, in bytes, and where
// the figure came from.
type RSS struct {
	Bytes  int64
	Source string // "/proc/PID/status" or the metrics URL
}

func (r RSS) String() string {
	return fmt.Sprintf("%.1f MiB (%s)", float64(r.Bytes)/(1<<20), r.Source)
}

// ProcessRSS reads the resident set of process pid from /proc (Linux);
// pid 0 is this process.
func ProcessRSS(pid int) (RSS, error) {
	path := "/proc/self/status"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return RSS{}, fmt.Errorf("bench: RSS: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		// "VmRSS:	  123456 kB" (proc(5)).
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return RSS{Bytes: kb << 10, Source: path}, nil
				}
			}
		}
	}
	return RSS{}, fmt.Errorf("bench: RSS: no VmRSS line in %s", path)
}

// MetricsRSS reads process_resident_memory_bytes, the Prometheus
// process collector's resident set, from a server's metrics endpoint.
func MetricsRSS(ctx context.Context, client *http.Client, metricsURL string) (RSS, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return RSS{}, fmt.Errorf("bench: RSS: %w", err)
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := client.Do(req)
	if err != nil {
		return RSS{}, fmt.Errorf("bench: RSS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return RSS{}, fmt.Errorf("bench: RSS: %s: status %d", metricsURL, resp.StatusCode)
	}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 4<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// The text exposition format: "name value" (no labels on this one).
		if v, ok := strings.CutPrefix(sc.Text(), "process_resident_memory_bytes "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return RSS{}, fmt.Errorf("bench: RSS: %s: %q: %w", metricsURL, v, err)
			}
			return RSS{Bytes: int64(f), Source: metricsURL}, nil
		}
	}
	if err := sc.Err(); err != nil {
		return RSS{}, fmt.Errorf("bench: RSS: %s: %w", metricsURL, err)
	}
	return RSS{}, fmt.Errorf("bench: RSS: %s has no process_resident_memory_bytes", metricsURL)
}
