package audit

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// maxCheckpoint bounds the size of a checkpoint or proof parsed from outside.
const maxCheckpoint = 64 << 10

// ValidOrigin reports whether origin can name the log in a checkpoint and
// its signatures: non-empty UTF-8 without Unicode spaces or '+', as the
// signed-note key name rules require (C2SP signed-note; C2SP
// tlog-checkpoint recommends a schema-less URL such as
// "audit.cedula.example.gov.uy").
func ValidOrigin(origin string) bool {
	return origin != "" && utf8.ValidString(origin) &&
		strings.IndexFunc(origin, unicode.IsSpace) < 0 && !strings.Contains(origin, "+")
}

// FormatCheckpoint returns the note text of a checkpoint (C2SP
// tlog-checkpoint, "Note text"): the origin, the tree size in decimal and
// the base64 root hash, each followed by a newline. It has no extension
// lines.
func FormatCheckpoint(origin string, size int64, root Hash) []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root[:]))
}

// ParseCheckpoint parses the note text of a checkpoint (without signature
// lines; see OpenCheckpoint for a signed one). It follows C2SP
// tlog-checkpoint: at least three non-empty lines, each ending in a newline —
// origin, size in decimal without leading zeroes, standard base64 of a
// 32-byte root — then optional non-empty extension lines, which it
// ignores. Anything else is ErrMalformed.
func ParseCheckpoint(text []byte) (Checkpoint, error) {
	bad := func(why string) (Checkpoint, error) {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint: %s", ErrMalformed, why)
	}
	if len(text) > maxCheckpoint {
		return bad("too long")
	}
	if !utf8.Valid(text) {
		return bad("not UTF-8")
	}
	if len(text) == 0 || text[len(text)-1] != '\n' {
		return bad("text does not end in a newline")
	}
	lines := strings.Split(string(text[:len(text)-1]), "\n")
	if len(lines) < 3 {
		return bad(fmt.Sprintf("%d lines, want at least 3", len(lines)))
	}
	for _, l := range lines {
		if l == "" {
			return bad("empty line")
		}
	}
	size, ok := parseDecimal(lines[1])
	if !ok {
		return bad(fmt.Sprintf("tree size %.30q is not a decimal without leading zeroes", lines[1]))
	}
	root, err := decodeBase64(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return bad(fmt.Sprintf("root hash %.60q is not base64 of %d bytes", lines[2], tlog.HashSize))
	}
	c := Checkpoint{Origin: lines[0], Size: size}
	copy(c.Root[:], root)
	return c, nil
}

// decodeBase64 decodes standard base64 (RFC 4648 §4) strictly: padding
// required, zero padding bits, and no line breaks (which Go's decoder
// would otherwise skip).
func decodeBase64(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("line break in base64")
	}
	return base64.StdEncoding.Strict().DecodeString(s)
}

// parseDecimal parses a non-negative int64 in ASCII decimal with no sign
// and no leading zeroes (unless it is 0).
func parseDecimal(s string) (int64, bool) {
	if s == "" || len(s) > 19 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// SignCheckpoint returns the signed note of the checkpoint of the tree of
// size entries with root hash root, signed by signer, whose name should be
// the origin (C2SP tlog-checkpoint, "Signatures").
func SignCheckpoint(origin string, size int64, root Hash, signer note.Signer) ([]byte, error) {
	if !ValidOrigin(origin) {
		return nil, fmt.Errorf("audit: sign checkpoint: invalid origin %q", origin)
	}
	msg, err := note.Sign(&note.Note{Text: string(FormatCheckpoint(origin, size, root))}, signer)
	if err != nil {
		return nil, fmt.Errorf("audit: sign checkpoint: %w", err)
	}
	return msg, nil
}

// OpenCheckpoint verifies a signed checkpoint of the log named origin and
// parses it. It returns ErrBadSignature unless a key of verifiers named
// origin signed it (signatures by unknown keys, such as witnesses', are
// ignored as the signed-note spec requires) and the origin line is origin;
// ErrMalformed when it does not parse.
func OpenCheckpoint(msg []byte, origin string, verifiers note.Verifiers) (Checkpoint, error) {
	if len(msg) > maxCheckpoint {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint: too long", ErrMalformed)
	}
	n, err := note.Open(msg, verifiers)
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		if errors.As(err, &unverified) || errors.As(err, &invalid) {
			return Checkpoint{}, fmt.Errorf("%w: %v", ErrBadSignature, err)
		}
		return Checkpoint{}, fmt.Errorf("%w: checkpoint: %v", ErrMalformed, err)
	}
	c, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Origin != origin {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint of origin %q, want %q", ErrBadSignature, c.Origin, origin)
	}
	signed := false
	for _, s := range n.Sigs {
		signed = signed || s.Name == origin
	}
	if !signed {
		return Checkpoint{}, fmt.Errorf("%w: no signature by a key named %q", ErrBadSignature, origin)
	}
	c.Note = msg
	return c, nil
}

// Proof is an offline-verifiable inclusion proof in the C2SP tlog-proof@v1
// format: the index of an entry, its audit path, and the signed checkpoint
// of the tree the path leads to.
type Proof struct {
	// Extra is opaque, unauthenticated data; nil when absent.
	Extra []byte
	Index int64
	Path  tlog.RecordProof
	// Checkpoint is the signed note, verbatim.
	Checkpoint []byte
}

const proofHeader = "c2sp.org/tlog-proof@v1"

// FormatProof encodes p (C2SP tlog-proof, "Format").
func FormatProof(p Proof) []byte {
	var b bytes.Buffer
	b.WriteString(proofHeader + "\n")
	if len(p.Extra) > 0 {
		b.WriteString("extra " + base64.StdEncoding.EncodeToString(p.Extra) + "\n")
	}
	fmt.Fprintf(&b, "index %d\n", p.Index)
	for _, h := range p.Path {
		b.WriteString(base64.StdEncoding.EncodeToString(h[:]) + "\n")
	}
	b.WriteString("\n")
	b.Write(p.Checkpoint)
	return b.Bytes()
}

// maxPath is the longest audit path of a tree of at most 2⁶³ leaves.
const maxPath = 63

// ParseProof decodes a C2SP tlog-proof@v1. It checks the form of every
// line but not the checkpoint's signature: see Proof.Verify. Anything else
// is ErrMalformed.
func ParseProof(b []byte) (Proof, error) {
	bad := func(why string) (Proof, error) {
		return Proof{}, fmt.Errorf("%w: proof: %s", ErrMalformed, why)
	}
	if len(b) > maxCheckpoint {
		return bad("too long")
	}
	head, cp, ok := bytes.Cut(b, []byte("\n\n"))
	if !ok {
		return bad("no empty line before the checkpoint")
	}
	if len(cp) == 0 {
		return bad("no checkpoint")
	}
	lines := strings.Split(string(head), "\n")
	if lines[0] != proofHeader {
		return bad(fmt.Sprintf("first line %.40q, want %q", lines[0], proofHeader))
	}
	lines = lines[1:]
	var p Proof
	if len(lines) > 0 && strings.HasPrefix(lines[0], "extra ") {
		extra, err := decodeBase64(strings.TrimPrefix(lines[0], "extra "))
		if err != nil || len(extra) == 0 {
			return bad("extra is not non-empty base64")
		}
		p.Extra = extra
		lines = lines[1:]
	}
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "index ") {
		return bad("no index line")
	}
	index, ok := parseDecimal(strings.TrimPrefix(lines[0], "index "))
	if !ok {
		return bad("index is not a decimal without leading zeroes")
	}
	p.Index = index
	lines = lines[1:]
	if len(lines) > maxPath {
		return bad(fmt.Sprintf("%d hashes, at most %d", len(lines), maxPath))
	}
	p.Path = make(tlog.RecordProof, len(lines))
	for i, l := range lines {
		h, err := decodeBase64(l)
		if err != nil || len(h) != tlog.HashSize {
			return bad(fmt.Sprintf("line %d is not base64 of a %d-byte hash", i+1, tlog.HashSize))
		}
		copy(p.Path[i][:], h)
	}
	p.Checkpoint = cp
	return p, nil
}

// Verify checks that p proves the entry with canonical encoding data is in
// the log named origin, under a checkpoint signed by one of verifiers, and
// returns that checkpoint. It returns ErrBadSignature, ErrMalformed, or
// ErrProof when the path does not lead from the leaf to the signed root.
func (p Proof) Verify(data []byte, origin string, verifiers note.Verifiers) (Checkpoint, error) {
	c, err := OpenCheckpoint(p.Checkpoint, origin, verifiers)
	if err != nil {
		return Checkpoint{}, err
	}
	if p.Index >= c.Size {
		return Checkpoint{}, fmt.Errorf("audit: verify proof: %w: index %d in a tree of %d", ErrProof, p.Index, c.Size)
	}
	if err := CheckInclusion(p.Path, p.Index, c.Size, LeafHash(data), c.Root); err != nil {
		return Checkpoint{}, err
	}
	return c, nil
}
