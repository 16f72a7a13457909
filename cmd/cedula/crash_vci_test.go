package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/issuer/demo"
	"github.com/cedula/cedula/issuer/vci"
)

// TestIssuanceSurvivesKill9: a child `cedula serve --demo` on SQLite
// serves concurrent wallets — token, nonce, credential — and is killed
// with SIGKILL at a random moment, twice. After the restart every
// credential a wallet received is recorded as issued, and every issuance
// recorded has its audit entry: as many credential.issue entries in the
// log as credentials recorded, none without the other.
func TestIssuanceSurvivesKill9(t *testing.T) {
	dataDir := t.TempDir()
	port := freePort(t)
	base := fmt.Sprintf("http://localhost:%d", port)
	env := []string{"CEDULA_KEK=" + strings.Repeat("ab", 32), "CEDULA_DATA_DIR=" + dataDir}
	hc := &http.Client{Timeout: 10 * time.Second}
	acked := map[string]bool{} // credential IDs whose credential a wallet received
	interrupted := 0           // rounds killed while wallets were at work
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	serve := func() *process {
		p := startCedula(t, env, "serve", "--demo", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--public-url", base)
		waitReady(t, base)
		return p
	}
	for round := 0; round < 2; round++ {
		p := serve()
		ctx := context.Background()
		api, is := vciClients(t, ctx, hc, base, dataDir)
		subs, err := api.createCitizens(ctx, 4)
		if err != nil {
			t.Fatal(err)
		}
		type offered struct {
			id string
			o  vciOffer
		}
		var offers []offered
		for i := range 600 {
			var created struct {
				CredentialID string `json:"credential_id"`
				URL          string `json:"credential_offer_url"`
				TxCode       string `json:"tx_code"`
			}
			body := fmt.Appendf(nil, `{"subject":%q,"credential_configuration_id":"pid"}`, subs[i%len(subs)])
			if err := api.post(ctx, "/issuance/offers", body, &created); err != nil {
				t.Fatal(err)
			}
			o, err := is.resolveOffer(ctx, created.URL, created.TxCode)
			if err != nil {
				t.Fatal(err)
			}
			offers = append(offers, offered{created.CredentialID, o})
		}
		load, stop := context.WithCancel(ctx)
		var mu sync.Mutex
		var wg sync.WaitGroup
		next := 0
		for range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for load.Err() == nil {
					mu.Lock()
					if next == len(offers) {
						mu.Unlock()
						return
					}
					o := offers[next]
					next++
					mu.Unlock()
					w, err := is.redeem(load, o.o)
					if err != nil {
						continue
					}
					nonce, err := is.fetchNonce(load)
					if err != nil {
						continue
					}
					if w.credential(load, "pid", nonce, 1) == nil {
						mu.Lock()
						acked[o.id] = true
						mu.Unlock()
					}
				}
			}()
		}
		time.Sleep(time.Duration(200+rng.IntN(400)) * time.Millisecond)
		mu.Lock()
		interrupted += min(1, len(offers)-next)
		mu.Unlock()
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p.cmd.Wait()
		stop()
		wg.Wait()
		t.Logf("round %d: %d credentials received so far", round, len(acked))
	}

	serve()
	ctx := context.Background()
	api, _ := vciClients(t, ctx, hc, base, dataDir)
	issued, records := 0, 0
	cursor := ""
	for {
		var page struct {
			Credentials []struct {
				ID    string `json:"id"`
				State string `json:"state"`
				Count int    `json:"count"`
			} `json:"credentials"`
			Next string `json:"next_cursor"`
		}
		if err := apiGet(ctx, api, "/issuance/credentials?limit=500&cursor="+cursor, &page); err != nil {
			t.Fatal(err)
		}
		for _, c := range page.Credentials {
			records++
			if c.State == string(vci.StateIssued) {
				issued += c.Count
				delete(acked, c.ID)
			}
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	if len(acked) > 0 {
		t.Errorf("%d credentials a wallet received are not recorded as issued", len(acked))
	}
	if interrupted == 0 {
		t.Errorf("no round was killed while wallets were at work: the test proved nothing")
	}
	// The log: as many credential.issue entries as credentials recorded
	// (the entries of a commit are numbered shortly after it).
	var entries int
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		entries = countActions(t, base, vci.ActionIssue)
		if entries == issued || time.Now().After(deadline) {
			break
		}
	}
	if entries != issued || issued == 0 {
		t.Errorf("%d credential.issue entries in the log, %d credentials recorded issued (of %d issuances): they must be equal, and not zero", entries, issued, records)
	}
	t.Logf("after two kills: %d issuances, %d credentials issued, %d entries", records, issued, entries)
}

// vciClients logs in as the demo back end (its key is in the data
// folder) and reads the issuer's metadata.
func vciClients(t *testing.T, ctx context.Context, hc *http.Client, base, dataDir string) (*agencyAPI, *vciIssuer) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, demo.MachineID+".jwk"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := jose.ParseClientKey(b)
	if err != nil {
		t.Fatal(err)
	}
	api, err := newAgencyAPI(ctx, hc, base, demo.MachineID, key, "cedula:admin cedula:issuance")
	if err != nil {
		t.Fatal(err)
	}
	is, err := discoverIssuer(ctx, hc, base)
	if err != nil {
		t.Fatal(err)
	}
	return api, is
}

// countActions counts the entries of the log with action.
func countActions(t *testing.T, base, action string) int {
	t.Helper()
	size := checkpointSize(fetch(t, base+"/audit/checkpoint"))
	n := 0
	for start := int64(0); start < size; start += 1000 {
		end := min(start+1000, size)
		var page struct {
			Entries []struct {
				Data string `json:"data"`
			} `json:"entries"`
		}
		if err := json.Unmarshal([]byte(fetch(t, fmt.Sprintf("%s/audit/entries?start=%d&end=%d", base, start, end))), &page); err != nil {
			t.Fatalf("entries %d–%d: %v", start, end, err)
		}
		for _, e := range page.Entries {
			raw, _ := base64.StdEncoding.DecodeString(e.Data)
			var v struct {
				Action string `json:"action"`
			}
			json.Unmarshal(raw, &v)
			if v.Action == action {
				n++
			}
		}
	}
	return n
}

// apiGet reads path of the agency API into out.
func apiGet(ctx context.Context, a *agencyAPI, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	return doJSON(a.hc, req, http.StatusOK, out)
}
