package oidcop_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cedula/cedula/internal/jose"
)

// BenchmarkClientCredentials measures the token endpoint for an agency
// authenticating with private_key_jwt, over loopback HTTP with SQLite.
func BenchmarkClientCredentials(b *testing.B) {
	e := newEnv(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	aud := []string{e.srv.URL + "/oauth/token"}
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			a, err := e.agentKey.SignAssertion(jose.ClientAssertion{ClientID: machine, Audience: aud, IssuedAt: time.Now(), Expiry: time.Now().Add(time.Minute)})
			if err != nil {
				b.Error(err)
				return
			}
			form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}}
			res, err := client.Post(e.srv.URL+"/oauth/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
}
