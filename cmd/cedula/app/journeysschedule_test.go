package app_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/journeys"
)

// TestJourneyDryRunAndSchedule: an agency counts a scheduled journey's
// reach — counts only, those under ten suppressed, the dry run audited —
// and the day's run reaches the best-scored up to the cap, once however
// many replicas try; a run a replica took and never finished (it died) is
// run by another once its lease passed.
func TestJourneyDryRunAndSchedule(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tok := e.outreach()
	scheduled := strings.Replace(outreachJourney, `"trigger":{"event":"registry.changed"}`, `"trigger":{"schedule":"monthly"},"score":"double(dependants)","cap":5`, 1)
	if res, out := e.do(http.MethodPut, "/journeys/daily", tok, scheduled); res.StatusCode != 200 {
		t.Fatalf("define: %d %v", res.StatusCode, out)
	}
	ids := map[string]int{}
	for i := 1; i <= 12; i++ {
		id, sub := e.consenting(fmt.Sprintf("C%d", i))
		ids[id] = i
		if res, out := e.do(http.MethodPut, "/journeys/registry/"+sub, tok, fmt.Sprintf(`{"attributes":{"dependants":%d,"benefits":[]}}`, i)); res.StatusCode != 200 {
			t.Fatalf("push: %d %v", res.StatusCode, out)
		}
	}
	e.citizen("Nobody") // no consent: considered, not allowed
	if err := e.s.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	start, _ := e.s.Audit.Size(ctx)
	res, out := e.do(http.MethodPost, "/journeys/daily/dry-run", tok, "")
	if res.StatusCode != 200 {
		t.Fatalf("dry run: %d %v", res.StatusCode, out)
	}
	count := func(k string) any { return out[k].(map[string]any)["count"] }
	if out["considered"] != 13.0 || count("allowed") != 12.0 || count("matched") != 12.0 || count("reached") != nil ||
		out["reached"].(map[string]any)["suppressed"] != true {
		t.Errorf("dry run: %v, want 13 considered, 12 allowed and matched, the 5 reached suppressed", out)
	}
	if err := e.s.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.s.Audit.Size(ctx); n != start+1 {
		t.Errorf("the dry run appended %d entries, want one", n-start)
	}
	if recs, err := e.s.Audit.Entries(ctx, start, start+1); err != nil || len(recs) != 1 {
		t.Fatalf("entries: %v", err)
	} else if en, _ := recs[0].Entry(); en.Action != journeys.ActionDryRun || en.Actor.ID != outreachAgency || en.Subject != "" || en.Outcome != audit.Allowed {
		t.Errorf("the dry run's entry: %+v", en)
	}

	// The run of the first of next month (the server's own worker runs
	// monthly journeys on the 1st only): the five with most dependants,
	// once.
	y, m, _ := time.Now().Date()
	now := time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)
	// Another replica took the day's run a minute ago: this one leaves
	// it. That replica dies: once its lease passed, this one runs it.
	day := now.Format(time.DateOnly)
	if _, err := e.s.DB.ExecContext(ctx, `INSERT INTO journeys_runs (journey, day, taken) VALUES ('daily', $1, $2)`,
		day, time.Now().Add(-time.Minute).UnixMicro()); err != nil {
		t.Fatal(err)
	}
	if n, err := e.s.Journeys.RunScheduled(ctx, now); err != nil || n != 0 {
		t.Fatalf("run while another replica holds it: %d %v, want none", n, err)
	}
	if _, err := e.s.DB.ExecContext(ctx, `UPDATE journeys_runs SET taken = $1 WHERE journey = 'daily' AND day = $2`,
		time.Now().Add(-journeys.RunLease-time.Minute).UnixMicro(), day); err != nil {
		t.Fatal(err)
	}
	if n, err := e.s.Journeys.RunScheduled(ctx, now); err != nil || n != 1 {
		t.Fatalf("run after the other replica's lease: %d %v", n, err)
	}
	if n, err := e.s.Journeys.RunScheduled(ctx, now); err != nil || n != 0 {
		t.Errorf("a second replica's run the same day: %d %v, want none", n, err)
	}
	var entered []int
	for id, i := range ids {
		if es, _ := e.s.Journeys.Enrolments(ctx, id); len(es) == 1 {
			entered = append(entered, i)
		}
	}
	if len(entered) != 5 {
		t.Fatalf("entered: %v, want five", entered)
	}
	for _, i := range entered {
		if i < 8 {
			t.Errorf("entered %v, want the five best-scored (8 to 12)", entered)
		}
	}
}
