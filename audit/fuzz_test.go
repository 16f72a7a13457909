package audit_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/cedula/cedula/audit"
)

// The fuzz targets feed the parsers of everything that comes from outside
// — checkpoints, signed checkpoints, tlog-proofs, entries, hashes — with
// arbitrary bytes. Each must return a value or an ErrMalformed-family
// error, never panic, and what it accepts must survive a round trip.

func seedCheckpoints(f *testing.F) {
	for _, name := range []string{"checkpoint.golden", "proof.golden"} {
		b, err := readTestdata(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("o\n0\n" + b64root + "\n"))
	f.Add([]byte("o\n1\n" + b64root + "\next\n"))
	f.Add([]byte("c2sp.org/tlog-proof@v1\nindex 0\n\no\n0\n" + b64root + "\n\n— o AAAA\n"))
}

// FuzzParseCheckpoint: ParseCheckpoint and OpenCheckpoint on arbitrary
// input. An accepted body without extension lines formats back to itself;
// nothing but the golden note opens with the golden key.
func FuzzParseCheckpoint(f *testing.F) {
	seedCheckpoints(f)
	goldenNote, err := readTestdata("checkpoint.golden")
	if err != nil {
		f.Fatal(err)
	}
	vkey, err := readTestdata("checkpoint.vkey")
	if err != nil {
		f.Fatal(err)
	}
	vs, err := audit.Verifiers(string(bytes.TrimSpace(vkey)))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := audit.ParseCheckpoint(b)
		if err != nil {
			if !errors.Is(err, audit.ErrMalformed) {
				t.Fatalf("ParseCheckpoint: got %v, want ErrMalformed", err)
			}
		} else if c.Size < 0 {
			t.Fatalf("ParseCheckpoint: negative size %d", c.Size)
		} else if bytes.Count(b, []byte("\n")) == 3 && !bytes.Equal(audit.FormatCheckpoint(c.Origin, c.Size, c.Root), b) {
			t.Fatalf("ParseCheckpoint(%q) then FormatCheckpoint: got %q", b, audit.FormatCheckpoint(c.Origin, c.Size, c.Root))
		}
		oc, err := audit.OpenCheckpoint(b, origin, vs)
		switch {
		case err == nil && !bytes.Equal(b, goldenNote):
			// Only the golden note carries a valid signature — unless the
			// fuzzer added a second copy of the signature line or such,
			// which still verifies the same text.
			if oc.Size != 37 || oc.Origin != origin {
				t.Fatalf("OpenCheckpoint(%q): accepted size %d origin %q", b, oc.Size, oc.Origin)
			}
		case err != nil && !errors.Is(err, audit.ErrMalformed) && !errors.Is(err, audit.ErrBadSignature):
			t.Fatalf("OpenCheckpoint: got %v, want ErrMalformed or ErrBadSignature", err)
		}
	})
}

// FuzzParseProof: what ParseProof accepts formats back to the same bytes.
func FuzzParseProof(f *testing.F) {
	seedCheckpoints(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := audit.ParseProof(b)
		if err != nil {
			if !errors.Is(err, audit.ErrMalformed) {
				t.Fatalf("ParseProof: got %v, want ErrMalformed", err)
			}
			return
		}
		if got := audit.FormatProof(p); !bytes.Equal(got, b) {
			t.Fatalf("ParseProof(%q) then FormatProof: got %q", b, got)
		}
	})
}

// FuzzParseEntry: an accepted entry is valid and is its own canonical
// encoding.
func FuzzParseEntry(f *testing.F) {
	for _, name := range []string{"entry-full.golden", "entry-minimal.golden"} {
		b, err := readTestdata(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := audit.ParseEntry(b)
		if err != nil {
			if !errors.Is(err, audit.ErrMalformed) {
				t.Fatalf("ParseEntry: got %v, want ErrMalformed", err)
			}
			return
		}
		again, err := e.Canonical()
		if err != nil {
			t.Fatalf("ParseEntry(%q) accepted an invalid entry: %v", b, err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("ParseEntry(%q) then Canonical: got %q", b, again)
		}
	})
}

// FuzzParseHash: an accepted hash encodes back to the input in one of the
// accepted forms.
func FuzzParseHash(f *testing.F) {
	f.Add(b64root)
	f.Add("0a c5")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := audit.ParseHash(s)
		if err != nil {
			if !errors.Is(err, audit.ErrMalformed) {
				t.Fatalf("ParseHash: got %v, want ErrMalformed", err)
			}
			return
		}
		forms := []string{base64.StdEncoding.EncodeToString(h[:]), base64.URLEncoding.EncodeToString(h[:]),
			base64.RawURLEncoding.EncodeToString(h[:])}
		for _, f := range forms {
			if f == s {
				return
			}
		}
		if hexOK := len(s) == 64; hexOK {
			return // hex in either case
		}
		t.Fatalf("ParseHash(%q) = %s: not one of %q", s, h, forms)
	})
}
