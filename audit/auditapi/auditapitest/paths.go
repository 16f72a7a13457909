package auditapitest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// HostilePaths are request targets below the log's prefix that are not the
// path of any resource of the log: dot segments (plain and percent-encoded),
// empty segments, trailing slashes, non-canonical tile numbers, widths out
// of range. Each must be answered by the log itself — a 400 or 404 problem,
// never a redirect to a cleaned path, which could lead out of /audit/.
var HostilePaths = []string{
	"/tile/0/../../etc/passwd",
	"/tile/0/%2e%2e/%2e%2e/etc/passwd",
	"/tile/0/%2E%2E/000",
	"/tile/0/.%2e/.%2e/admin/clients",
	"/tile/0/./000",
	"/tile/0/000/.",
	"/tile/0/000.p/1/..",
	"/tile/entries/../../checkpoint",
	"/../admin/clients",
	"/%2e%2e/admin/clients",
	"/./checkpoint",
	"//checkpoint",
	"/tile//0/000",
	"/tile/0//000",
	"/tile/0/000/",
	"/checkpoint/",
	"/tile/0/%30%30%30",
	"/tile%2F0%2F000",
	"/tile/0/000%2F",
	"/tile/0/..%5c..%5cetc",
	"/tile/0/000%00",
	"/tile/0/000;x",
	"/tile/00/000",
	"/tile/01/000",
	"/tile/0/0000",
	"/tile/0/00",
	"/tile/0/x000/001",
	"/tile/0/001/002",
	"/tile/99999999999999999999/000",
	"/tile/0/x999/x999/x999/x999/x999/x999/x999/000",
	"/tile/0/x009/x223/x372/x036/x854/x775/808",
	"/tile/0/" + strings.Repeat("x001/", 40) + "000",
	"/tile/-1/000",
	"/tile/0/-01",
	"/tile/0/+01",
	"/tile/0/abc",
	"/tile/0/0x1",
	"/tile/entries/abc",
	"/tile/0/000.p/0",
	"/tile/0/000.p/-1",
	"/tile/0/000.p/256",
	"/tile/0/000.p/257",
	"/tile/0/000.p/01",
	"/tile/0/000.p/",
	"/tile/entries/000.p/0",
	"/tile/entries/000.p/256",
	"/tile/8/0/000",
}

// CheckHostilePaths sends every hostile path below /audit/ of the server
// at base through rt (which follows no redirect) and checks the answers.
func CheckHostilePaths(t *testing.T, base string, rt http.RoundTripper) {
	t.Helper()
	for _, p := range append(HostilePaths, "") { // "" is /audit itself
		t.Run(strings.TrimPrefix(p, "/"), func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/audit"+p, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.StatusCode != http.StatusBadRequest && res.StatusCode != http.StatusNotFound {
				t.Fatalf("GET /audit%s: got %d (Location %q), want 400 or 404", p, res.StatusCode, res.Header.Get("Location"))
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("GET /audit%s: Content-Type got %q, want application/problem+json", p, ct)
			}
			var prob struct {
				Status int    `json:"status"`
				Title  string `json:"title"`
			}
			if err := json.NewDecoder(res.Body).Decode(&prob); err != nil || prob.Status != res.StatusCode || prob.Title == "" {
				t.Errorf("GET /audit%s: problem %+v (%v), want status %d and a title", p, prob, err, res.StatusCode)
			}
		})
	}
}
