package audit_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/cedula/cedula/audit"
	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/keys/localkeys"
)

const origin = "audit.cedula.test/log"

// fixedKey is a keys.Key over a fixed Ed25519 seed, so that signatures are
// the same on every run (Ed25519 is deterministic) and can be golden.
type fixedKey struct{ priv ed25519.PrivateKey }

func newFixedKey(seed byte) fixedKey {
	return fixedKey{ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))}
}

func (k fixedKey) ID() string               { return "fixed" }
func (k fixedKey) Alg() keys.Alg            { return keys.EdDSA }
func (k fixedKey) Public() crypto.PublicKey { return k.priv.Public() }
func (k fixedKey) Sign(_ context.Context, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts.HashFunc() != 0 {
		return nil, errors.New("EdDSA signs the message")
	}
	return ed25519.Sign(k.priv, msg), nil
}

// reference returns x/mod's own signer and verifier key for k's seed.
func reference(t *testing.T, seed byte) (note.Signer, string) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{seed}, ed25519.SeedSize)), origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s, vkey
}

func tree37(t *testing.T) (*memLog, audit.Hash) {
	m := newMemLog()
	for i := range 37 {
		m.add(leafData(i))
	}
	root, err := audit.TreeHash(context.Background(), m, 37)
	if err != nil {
		t.Fatal(err)
	}
	return m, root
}

// TestNoteSignerMatchesReference: the keys.Key adapter produces exactly
// the note x/mod's reference signer produces for the same key, and
// VerifierKey the same verifier key.
func TestNoteSignerMatchesReference(t *testing.T) {
	k := newFixedKey(7)
	s, err := audit.NoteSigner(context.Background(), origin, k)
	if err != nil {
		t.Fatal(err)
	}
	ref, refVkey := reference(t, 7)
	if s.KeyHash() != ref.KeyHash() || s.Name() != ref.Name() {
		t.Errorf("signer: got %s+%08x, want %s+%08x", s.Name(), s.KeyHash(), ref.Name(), ref.KeyHash())
	}
	vkey, err := audit.VerifierKey(origin, k.Public())
	if err != nil {
		t.Fatal(err)
	}
	if vkey != refVkey {
		t.Errorf("VerifierKey: got %s, want %s", vkey, refVkey)
	}
	if got := audit.KeyHash(origin, k.Public().(ed25519.PublicKey)); got != ref.KeyHash() {
		t.Errorf("KeyHash: got %08x, want %08x", got, ref.KeyHash())
	}
	_, root := tree37(t)
	got, err := audit.SignCheckpoint(origin, 37, root, s)
	if err != nil {
		t.Fatal(err)
	}
	want, err := audit.SignCheckpoint(origin, 37, root, ref)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("signed checkpoint:\ngot  %s\nwant %s", got, want)
	}
	golden(t, "checkpoint.golden", got)
	golden(t, "checkpoint.vkey", []byte(vkey+"\n"))
}

func TestNoteSignerLocalKeystore(t *testing.T) {
	ctx := context.Background()
	km, err := localkeys.Open(filepath.Join(t.TempDir(), "keystore.json"), localkeys.WithKEK(make([]byte, 32)))
	if err != nil {
		t.Fatal(err)
	}
	k, err := km.Active(ctx, audit.CheckpointRing, keys.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	s, err := audit.NoteSigner(ctx, origin, k)
	if err != nil {
		t.Fatal(err)
	}
	_, root := tree37(t)
	msg, err := audit.SignCheckpoint(origin, 37, root, s)
	if err != nil {
		t.Fatal(err)
	}
	vkeys, err := audit.VerifierKeys(ctx, km, origin)
	if err != nil || len(vkeys) != 1 {
		t.Fatalf("VerifierKeys: got %q, %v; want one key", vkeys, err)
	}
	vs, err := audit.Verifiers(vkeys...)
	if err != nil {
		t.Fatal(err)
	}
	c, err := audit.OpenCheckpoint(msg, origin, vs)
	if err != nil {
		t.Fatalf("OpenCheckpoint: %v", err)
	}
	if c.Size != 37 || c.Root != root || c.Origin != origin {
		t.Errorf("OpenCheckpoint: got %s %d %s, want %s 37 %s", c.Origin, c.Size, c.Root, origin, root)
	}

	es, err := km.Active(ctx, "other-ring", keys.ES256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.NoteSigner(ctx, origin, es); err == nil {
		t.Errorf("NoteSigner(ES256 key): got nil error, want a refusal")
	}
	if _, err := audit.NoteSigner(ctx, "bad name", k); err == nil {
		t.Errorf("NoteSigner(name with a space): got nil error, want a refusal")
	}
}

func TestParseCheckpoint(t *testing.T) {
	good := "audit.cedula.test/log\n37\n" + b64root + "\n"
	for _, tc := range []struct {
		name, text string
		size       int64
		ok         bool
	}{
		{"good", good, 37, true},
		{"size 0", "o\n0\n" + b64root + "\n", 0, true},
		{"extension lines", good + "ext one\next two\n", 37, true},
		{"no final newline", strings.TrimSuffix(good, "\n"), 0, false},
		{"two lines", "o\n37\n", 0, false},
		{"empty origin", "\n37\n" + b64root + "\n", 0, false},
		{"empty extension line", good + "\n", 0, false},
		{"leading zero", "o\n037\n" + b64root + "\n", 0, false},
		{"negative", "o\n-1\n" + b64root + "\n", 0, false},
		{"plus sign", "o\n+1\n" + b64root + "\n", 0, false},
		{"beyond int64", "o\n9223372036854775808\n" + b64root + "\n", 0, false},
		{"size with space", "o\n 37\n" + b64root + "\n", 0, false},
		{"root not base64", "o\n37\n" + strings.Repeat("!", 44) + "\n", 0, false},
		{"root 31 bytes", "o\n37\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n", 0, false},
		{"root unpadded", "o\n37\n" + strings.TrimSuffix(b64root, "=") + "\n", 0, false},
		{"CRLF", strings.ReplaceAll(good, "\n", "\r\n"), 0, false},
		{"CR inside the root", "o\n37\n" + b64root[:10] + "\r" + b64root[10:] + "\n", 0, false},
		{"not UTF-8", "o\xff\n37\n" + b64root + "\n", 0, false},
		{"too long", good + strings.Repeat("x", 70000) + "\n", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := audit.ParseCheckpoint([]byte(tc.text))
			switch {
			case tc.ok && err != nil:
				t.Errorf("ParseCheckpoint: %v", err)
			case tc.ok && c.Size != tc.size:
				t.Errorf("ParseCheckpoint: got size %d, want %d", c.Size, tc.size)
			case !tc.ok && !errors.Is(err, audit.ErrMalformed):
				t.Errorf("ParseCheckpoint: got %v, want ErrMalformed", err)
			}
		})
	}
}

// b64root is the base64 of a 32-byte root whose encoding ends in "=".
const b64root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="

func TestOpenCheckpoint(t *testing.T) {
	_, root := tree37(t)
	s, vkey := reference(t, 7)
	vs, err := audit.Verifiers(vkey)
	if err != nil {
		t.Fatal(err)
	}
	good, err := audit.SignCheckpoint(origin, 37, root, s)
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := reference(t, 8)
	byForeign, err := audit.SignCheckpoint(origin, 37, root, foreign)
	if err != nil {
		t.Fatal(err)
	}
	// A witness cosignature (an unknown key) beside the log's: ignored.
	witnessLine := byForeign[bytes.LastIndex(byForeign, []byte("\n— ")):]
	cosigned := append(bytes.Clone(good), witnessLine[1:]...)
	// The log's key signing another origin's text.
	otherText, err := note.Sign(&note.Note{Text: string(audit.FormatCheckpoint("other.example/log", 37, root))}, s)
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Replace(good, []byte("\n37\n"), []byte("\n38\n"), 1)

	for _, tc := range []struct {
		name string
		msg  []byte
		want error
	}{
		{"good", good, nil},
		{"cosigned by a witness", cosigned, nil},
		{"foreign key", byForeign, audit.ErrBadSignature},
		{"other origin", otherText, audit.ErrBadSignature},
		{"size changed", tampered, audit.ErrBadSignature},
		{"no signatures", audit.FormatCheckpoint(origin, 37, root), audit.ErrMalformed},
		{"empty", nil, audit.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := audit.OpenCheckpoint(tc.msg, origin, vs)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("OpenCheckpoint: got %v, want %v", err, tc.want)
			}
			if err == nil && (c.Size != 37 || c.Root != root || !bytes.Equal(c.Note, tc.msg)) {
				t.Errorf("OpenCheckpoint: got size %d root %s, want 37 %s and the note", c.Size, c.Root, root)
			}
		})
	}
}

func TestProofFormat(t *testing.T) {
	ctx := context.Background()
	m, root := tree37(t)
	s, vkey := reference(t, 7)
	vs, err := audit.Verifiers(vkey)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := audit.SignCheckpoint(origin, 37, root, s)
	if err != nil {
		t.Fatal(err)
	}
	path, err := audit.ProveInclusion(ctx, m, 11, 37)
	if err != nil {
		t.Fatal(err)
	}
	p := audit.Proof{Extra: []byte("extra"), Index: 11, Path: path, Checkpoint: cp}
	text := audit.FormatProof(p)
	golden(t, "proof.golden", text)
	got, err := audit.ParseProof(text)
	if err != nil {
		t.Fatalf("ParseProof: %v", err)
	}
	if !bytes.Equal(audit.FormatProof(got), text) {
		t.Errorf("ParseProof then FormatProof:\ngot  %s\nwant %s", audit.FormatProof(got), text)
	}
	c, err := got.Verify(leafData(11), origin, vs)
	if err != nil || c.Size != 37 {
		t.Errorf("Verify: got size %d, %v; want 37, nil", c.Size, err)
	}
	if _, err := got.Verify(leafData(12), origin, vs); !errors.Is(err, audit.ErrProof) {
		t.Errorf("Verify of another leaf: got %v, want ErrProof", err)
	}
	foreign, _ := reference(t, 9)
	fcp, _ := audit.SignCheckpoint(origin, 37, root, foreign)
	if _, err := (audit.Proof{Index: 11, Path: path, Checkpoint: fcp}).Verify(leafData(11), origin, vs); !errors.Is(err, audit.ErrBadSignature) {
		t.Errorf("Verify under a foreign checkpoint: got %v, want ErrBadSignature", err)
	}
	beyond := got
	beyond.Index = 37
	if _, err := beyond.Verify(leafData(11), origin, vs); !errors.Is(err, audit.ErrProof) {
		t.Errorf("Verify of index 37 in 37: got %v, want ErrProof", err)
	}

	noExtra := audit.FormatProof(audit.Proof{Index: 0, Checkpoint: cp})
	if _, err := audit.ParseProof(noExtra); err != nil {
		t.Errorf("ParseProof without extra and path: %v", err)
	}
	s0 := string(text)
	for _, tc := range []struct{ name, text string }{
		{"empty", ""},
		{"wrong header", strings.Replace(s0, "tlog-proof@v1", "tlog-proof@v2", 1)},
		{"no index", strings.Replace(s0, "index 11\n", "", 1)},
		{"index leading zero", strings.Replace(s0, "index 11", "index 011", 1)},
		{"index negative", strings.Replace(s0, "index 11", "index -1", 1)},
		{"empty extra", strings.Replace(s0, "extra ZXh0cmE=", "extra ", 1)},
		{"extra not base64", strings.Replace(s0, "extra ZXh0cmE=", "extra ***", 1)},
		{"bad hash", strings.Replace(s0, "index 11\n", "index 11\nAAAA\n", 1)},
		{"CR in a hash", strings.Replace(s0, "index 11\n", "index 11\n\r"+b64root+"\n", 1)},
		{"no checkpoint", s0[:strings.Index(s0, "\n\n")+2]},
		{"no empty line", strings.Replace(s0, "\n\n", "\n", 1)},
		{"too many hashes", strings.Replace(s0, "index 11\n", "index 11\n"+strings.Repeat(b64root+"\n", 64), 1)},
	} {
		if _, err := audit.ParseProof([]byte(tc.text)); !errors.Is(err, audit.ErrMalformed) {
			t.Errorf("%s: ParseProof: got %v, want ErrMalformed", tc.name, err)
		}
	}
}

func TestVerifiersRejectsBadKeys(t *testing.T) {
	_, vkey := reference(t, 7)
	for _, k := range []string{"", "name+00000000+AAAA", vkey[:len(vkey)-2]} {
		if _, err := audit.Verifiers(k); !errors.Is(err, audit.ErrMalformed) {
			t.Errorf("Verifiers(%q): got %v, want ErrMalformed", k, err)
		}
	}
	if _, err := audit.Verifiers(vkey, vkey); err != nil {
		t.Errorf("Verifiers(the same key twice): %v", err)
	}
}
