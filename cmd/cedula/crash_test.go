package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	auditstore "github.com/cedula/cedula/audit/sqlstore"
	"github.com/cedula/cedula/cmd/cedula/app"
	"github.com/cedula/cedula/internal/config"
	"github.com/cedula/cedula/internal/db"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/issuer"
	"github.com/cedula/cedula/issuer/sqlstore"
)

// TestAuditSurvivesKill9: a child `cedula serve` on SQLite receives
// concurrent audit appends and is killed with SIGKILL at a random moment,
// three times. After each restart every acknowledged entry is present at
// the index it was acknowledged with, and `cedula audit verify` finds the
// log consistent with every checkpoint published before the crash.
func TestAuditSurvivesKill9(t *testing.T) {
	dataDir := t.TempDir()
	port := freePort(t)
	base := fmt.Sprintf("http://localhost:%d", port)
	env := []string{"CEDULA_KEK=" + strings.Repeat("ab", 32), "CEDULA_DATA_DIR=" + dataDir}

	// Register the agency system that records accesses, before any start.
	key, err := jose.NewClientKey(keys.ES256)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := key.PublicJWKS()
	d, err := db.Open(context.Background(), filepath.Join(dataDir, "cedula.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Migrate(context.Background(), sqlstore.Migrations, auditstore.Migrations); err != nil {
		t.Fatal(err)
	}
	st := sqlstore.New(d)
	if err := st.PutClient(context.Background(), issuer.Client{ID: "recorder", Name: "recorder", GrantTypes: []string{issuer.GrantClientCredentials},
		AuthMethod: issuer.AuthPrivateKeyJWT, JWKS: jwks, SubjectType: issuer.SubjectPairwise, Scopes: []string{app.AuditWriteScope}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	d.Close()

	acked := map[int64]string{} // index → action, of every acknowledged append
	var saved []string          // checkpoint files published before crashes
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for round := 0; round < 3; round++ {
		p := startCedula(t, env, "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--public-url", base)
		waitReady(t, base)
		checkAcked(t, base, acked)
		token := clientToken(t, base, key)

		ctx, stop := context.WithCancel(context.Background())
		var mu sync.Mutex
		var wg sync.WaitGroup
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; ctx.Err() == nil; n++ {
					action := fmt.Sprintf("crash.r%d.g%d.n%d", round, g, n)
					i, err := postAudit(ctx, base, token, action)
					if err != nil {
						continue // the server is going down; unacknowledged
					}
					mu.Lock()
					if prev, dup := acked[i]; dup {
						t.Errorf("index %d acknowledged twice: %s and %s", i, prev, action)
					}
					acked[i] = action
					mu.Unlock()
				}
			}()
		}
		// Save a checkpoint while the load runs, then kill at a random moment.
		time.Sleep(time.Duration(200+rng.IntN(300)) * time.Millisecond)
		if cp := fetch(t, base+"/audit/checkpoint"); cp != "" {
			f := filepath.Join(t.TempDir(), "checkpoint")
			os.WriteFile(f, []byte(cp), 0o600)
			saved = append(saved, f)
		}
		time.Sleep(time.Duration(100+rng.IntN(400)) * time.Millisecond)
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p.cmd.Wait()
		stop()
		wg.Wait()
		t.Logf("round %d: %d entries acknowledged so far", round, len(acked))
	}

	startCedula(t, env, "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--public-url", base)
	waitReady(t, base)
	checkAcked(t, base, acked)
	// A checkpoint of the final log, then consistency with every earlier one.
	last, err := postAudit(context.Background(), base, clientToken(t, base, key), "crash.final")
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); checkpointSize(fetch(t, base+"/audit/checkpoint")) <= last; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint covers entry %d after 10 s", last)
		}
	}
	pinned := pinnedKeyFile(t, config.Config{DataDir: dataDir, Keys: "local", PublicURL: base}, strings.Repeat("ab", 32))
	for _, f := range saved {
		var out strings.Builder
		if err := runAudit(context.Background(), []string{"verify", "--url", base + "/audit", "--key-file", pinned, "--checkpoint", f}, &out); err != nil {
			t.Errorf("verify against a checkpoint saved before a crash: %v\n%s", err, out.String())
		}
	}
	if len(saved) == 0 || len(acked) == 0 {
		t.Errorf("the test measured nothing: %d checkpoints, %d acknowledged entries", len(saved), len(acked))
	}
}

// checkAcked reads the whole log and checks that it is gap-free (the
// server returns every index below its size) and holds every acknowledged
// entry at its index.
func checkAcked(t *testing.T, base string, acked map[int64]string) {
	t.Helper()
	var size int64
	for i := range acked {
		size = max(size, i+1)
	}
	got := map[int64]string{}
	for start := int64(0); start < size; start += 1000 {
		end := min(start+1000, size)
		var page struct {
			Entries []struct {
				Index int64  `json:"index"`
				Data  string `json:"data"`
			} `json:"entries"`
		}
		if err := json.Unmarshal([]byte(fetch(t, fmt.Sprintf("%s/audit/entries?start=%d&end=%d", base, start, end))), &page); err != nil {
			t.Fatalf("entries %d–%d: %v", start, end, err)
		}
		if int64(len(page.Entries)) != end-start {
			t.Fatalf("entries %d–%d: got %d, want %d (a gap, or acknowledged entries lost)", start, end, len(page.Entries), end-start)
		}
		for _, e := range page.Entries {
			raw, _ := base64.StdEncoding.DecodeString(e.Data)
			var v struct {
				Action string `json:"action"`
			}
			json.Unmarshal(raw, &v)
			got[e.Index] = v.Action
		}
	}
	for i, a := range acked {
		if got[i] != a {
			t.Fatalf("entry %d: got action %q, want the acknowledged %q", i, got[i], a)
		}
	}
}

func clientToken(t *testing.T, base string, key *jose.ClientKey) string {
	t.Helper()
	return clientTokenScope(t, base, key, app.AuditWriteScope)
}

// clientTokenScope gets a client_credentials token for "recorder".
func clientTokenScope(t *testing.T, base string, key *jose.ClientKey, scope string) string {
	t.Helper()
	a, _ := key.SignAssertion(jose.ClientAssertion{ClientID: "recorder", Audience: []string{base}, IssuedAt: time.Now(), Expiry: time.Now().Add(time.Minute)})
	res, err := http.PostForm(base+"/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {scope},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(res.Body).Decode(&out)
	if out.AccessToken == "" {
		t.Fatalf("no access token (status %d)", res.StatusCode)
	}
	return out.AccessToken
}

func postAudit(ctx context.Context, base, token, action string) (int64, error) {
	body := fmt.Sprintf(`{"action":%q,"purpose":"dpv:ServiceProvision","legal_basis":"public-task","outcome":"allowed"}`, action)
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/admin/audit", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(res.Body)
		return 0, fmt.Errorf("status %d: %s", res.StatusCode, b)
	}
	var out struct {
		Index int64 `json:"index"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return 0, err
	}
	return out.Index, nil
}

func fetch(t *testing.T, u string) string {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		return ""
	}
	return string(b)
}

// checkpointSize reads the tree size, the second line of a checkpoint.
func checkpointSize(note string) int64 {
	lines := strings.SplitN(note, "\n", 3)
	if len(lines) < 2 {
		return -1
	}
	var n int64
	if _, err := fmt.Sscan(lines[1], &n); err != nil {
		return -1
	}
	return n
}
