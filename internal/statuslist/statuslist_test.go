package statuslist

import (
	"strings"
	"testing"
)

// TestSpecExamples: the draft's two examples — 16 one-bit statuses and 12
// two-bit ones — decode from the lst the draft prints (made by another
// DEFLATE implementation), and what Encode makes of the same statuses
// decodes to them again (compressors differ in their bytes, not in what
// they inflate to).
func TestSpecExamples(t *testing.T) {
	for _, tc := range []struct {
		bits     int
		statuses []uint8
		lst      string
	}{
		{1, []uint8{1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1}, "eNrbuRgAAhcBXQ"},
		{2, []uint8{1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3}, "eNo76fITAAPfAgc"},
	} {
		l, err := New(tc.bits, len(tc.statuses))
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range tc.statuses {
			if err := l.Set(i, s); err != nil {
				t.Fatal(err)
			}
		}
		ours, err := l.Encode()
		if err != nil {
			t.Fatal(err)
		}
		for _, lst := range []string{tc.lst, ours} {
			d, err := Decode(tc.bits, lst)
			if err != nil {
				t.Fatal(err)
			}
			if d.Len() != len(tc.statuses) {
				t.Errorf("%d bits, %s: %d statuses, want %d", tc.bits, lst, d.Len(), len(tc.statuses))
			}
			for i, want := range tc.statuses {
				if s, err := d.Get(i); err != nil || s != want {
					t.Errorf("%d bits, %s: status %d is %d (%v), want %d", tc.bits, lst, i, s, err, want)
				}
			}
		}
	}
}

// TestSetLeavesNeighbours: setting one status changes no other, at every
// width.
func TestSetLeavesNeighbours(t *testing.T) {
	for _, bits := range []int{1, 2, 4, 8} {
		l, err := New(bits, 64)
		if err != nil {
			t.Fatal(err)
		}
		top := mask(bits)
		for i := range 64 {
			if err := l.Set(i, top); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Set(17, Valid); err != nil {
			t.Fatal(err)
		}
		for i := range 64 {
			want := top
			if i == 17 {
				want = Valid
			}
			if s, _ := l.Get(i); s != want {
				t.Fatalf("%d bits: status %d is %d, want %d", bits, i, s, want)
			}
		}
		if err := l.Set(1, top+1); bits < 8 && err == nil {
			t.Errorf("%d bits: status %d accepted", bits, top+1)
		}
	}
}

func TestRefuses(t *testing.T) {
	if _, err := New(3, 8); err == nil {
		t.Error("New: 3 bits accepted")
	}
	if _, err := New(1, 0); err == nil {
		t.Error("New: an empty list accepted")
	}
	if _, err := New(8, int(^uint(0)>>1)); err == nil {
		t.Error("New: a list beyond MaxBytes accepted")
	}
	l, _ := New(2, 8)
	if _, err := l.Get(8); err == nil {
		t.Error("Get past the end accepted")
	}
	if err := l.Set(-1, Valid); err == nil {
		t.Error("Set at -1 accepted")
	}
	for _, lst := range []string{"", "eNrbuRgAAhcBXQ==", "!!!!", "AAAA", "eJwDAAAAAAE"} { // empty, padded, not base64url, not ZLIB, inflates to nothing
		if _, err := Decode(1, lst); err == nil {
			t.Errorf("Decode(%q) accepted", lst)
		}
	}
	if _, err := Decode(5, "eNrbuRgAAhcBXQ"); err == nil {
		t.Error("Decode: 5 bits accepted")
	}
}

// TestDecodeBounded: a list that inflates past MaxBytes is refused
// without inflating it whole.
func TestDecodeBounded(t *testing.T) {
	l := &List{bits: 8, b: make([]byte, MaxBytes+1)}
	lst, err := l.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if len(lst) > 40_000 {
		t.Fatalf("a zero list compressed to %d bytes", len(lst))
	}
	if _, err := Decode(8, lst); err == nil || !strings.Contains(err.Error(), "beyond") {
		t.Errorf("Decode of %d bytes inflated: %v", MaxBytes+1, err)
	}
}

// FuzzDecode: no lst makes Decode panic, and a decoded list reads at
// every index it claims to hold.
func FuzzDecode(f *testing.F) {
	f.Add(1, "eNrbuRgAAhcBXQ")
	f.Add(2, "eNo76fITAAPfAgc")
	f.Add(8, "eJwDAAAAAAE")
	f.Fuzz(func(t *testing.T, bits int, lst string) {
		l, err := Decode(bits, lst)
		if err != nil {
			return
		}
		for _, i := range []int{0, l.Len() / 2, l.Len() - 1} {
			if _, err := l.Get(i); err != nil {
				t.Fatalf("Get(%d) of a list of %d: %v", i, l.Len(), err)
			}
		}
	})
}
