package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/auditapi"
	"github.com/cedula/cedula/audit/auditclient"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/keys/localkeys"
)

// FuzzVerifyExport: an export whose signature is valid but whose lines are
// anything — a checkpoint line, entries, proofs written by a faulty or
// hostile signer — is checked without a panic, and accepted only when every
// entry's leaf hash and inclusion proof hold.
func FuzzVerifyExport(f *testing.F) {
	km, err := localkeys.Open(filepath.Join(f.TempDir(), "keystore.json"), localkeys.WithKEK(make([]byte, 32)))
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	k, err := km.Active(ctx, auditapi.ExportRing, keys.ES256)
	if err != nil {
		f.Fatal(err)
	}
	pubs, err := km.Verification(ctx, auditapi.ExportRing)
	if err != nil {
		f.Fatal(err)
	}
	jwks, err := jose.JWKS(pubs...)
	if err != nil {
		f.Fatal(err)
	}
	leaf := base64.StdEncoding.EncodeToString([]byte(`{"action":"x"}`))
	f.Add(`{"checkpoint":"o\n1\nAA==\n","size":1,"root":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`+"\n"+
		`{"index":0,"data":"`+leaf+`","leaf_hash":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","proof":[]}`, int64(1))
	f.Add(`{"size":-1}`, int64(-1))
	f.Add("", int64(0))
	f.Fuzz(func(t *testing.T, lines string, size int64) {
		body := lines
		if body != "" && !strings.HasSuffix(body, "\n") {
			body += "\n"
		}
		sum := sha256.Sum256([]byte(body))
		claims := auditapi.ExportClaims{SHA256: base64.RawURLEncoding.EncodeToString(sum[:]),
			Lines: int64(len(strings.Split(strings.TrimSuffix(body, "\n"), "\n"))), CheckpointSize: size}
		sig, err := jose.SignJSON(ctx, k, claims, map[string]any{"typ": auditapi.ExportJWSType})
		if err != nil {
			t.Fatal(err)
		}
		last, _ := json.Marshal(auditapi.ExportSignature{Signature: sig})
		cp, entries, err := auditclient.VerifyExport([]byte(body+string(last)+"\n"), jwks)
		if err != nil {
			return
		}
		for _, e := range entries {
			if err := checkExportEntry(e, cp); err != nil {
				t.Fatalf("accepted entry %d: %v", e.Index, err)
			}
		}
	})
}

func checkExportEntry(e auditapi.ExportEntry, cp auditapi.ExportCheckpoint) error {
	return audit.CheckInclusion(e.Proof, e.Index, cp.Size, audit.LeafHash(e.Data), cp.Root)
}
