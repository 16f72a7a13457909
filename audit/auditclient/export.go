package auditclient

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/audit/auditapi"
	"github.com/cedula/cedula/internal/jose"
	"github.com/cedula/cedula/internal/keys"
)

// VerifyExport checks an export body as auditapi documents it (GET /dpo/audit/export), with the JWKS
// of its signing keys, and returns the checkpoint line and the entries. It
// does not check the checkpoint note's own signature (see
// audit.ParseCheckpoint); it checks every proof against its root.
func VerifyExport(body, jwks []byte) (auditapi.ExportCheckpoint, []auditapi.ExportEntry, error) {
	var cp auditapi.ExportCheckpoint
	trimmed := strings.TrimSuffix(string(body), "\n")
	cut := strings.LastIndexByte(trimmed, '\n')
	if cut < 0 {
		return cp, nil, errors.New("export: no signature line")
	}
	signed, last := body[:cut+1], trimmed[cut+1:]
	var sl auditapi.ExportSignature
	if err := json.Unmarshal([]byte(last), &sl); err != nil || sl.Signature == "" {
		return cp, nil, errors.New("export: the last line is not a signature")
	}
	payload, err := jose.Verify([]byte(sl.Signature), jwks, keys.ES256)
	if err != nil {
		return cp, nil, fmt.Errorf("export: signature: %w", err)
	}
	var claims auditapi.ExportClaims
	if err := json.Unmarshal(payload, &claims); err != nil {
		return cp, nil, fmt.Errorf("export: signature claims: %w", err)
	}
	sum := sha256.Sum256(signed)
	if claims.SHA256 != base64.RawURLEncoding.EncodeToString(sum[:]) {
		return cp, nil, errors.New("export: the body does not match its signature")
	}
	lines := strings.Split(strings.TrimSuffix(string(signed), "\n"), "\n")
	if int64(len(lines)) != claims.Lines {
		return cp, nil, errors.New("export: line count differs from the signature's")
	}
	if err := json.Unmarshal([]byte(lines[0]), &cp); err != nil || cp.Size != claims.CheckpointSize {
		return cp, nil, errors.New("export: bad checkpoint line")
	}
	var out []auditapi.ExportEntry
	for _, l := range lines[1:] {
		var e auditapi.ExportEntry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			return cp, nil, fmt.Errorf("export: line %d: %w", len(out)+2, err)
		}
		if audit.LeafHash(e.Data) != e.LeafHash {
			return cp, nil, fmt.Errorf("export: entry %d: leaf hash differs from its data", e.Index)
		}
		if err := audit.CheckInclusion(e.Proof, e.Index, cp.Size, e.LeafHash, cp.Root); err != nil {
			return cp, nil, fmt.Errorf("export: entry %d: %w", e.Index, err)
		}
		out = append(out, e)
	}
	return cp, out, nil
}
