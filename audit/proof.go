package audit

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// Proofs over any Reader, computed by golang.org/x/mod/sumdb/tlog from the
// stored hashes: RFC 6962 §2.1.1 audit paths (inclusion) and §2.1.2
// consistency proofs. Every function first checks its arguments against the
// log's current size, so that a request beyond the tree is the caller's
// mistake (ErrOutOfRange, ErrBadRange), never a failed read.

// EmptyRoot is the root hash of the empty tree, SHA-256 of no bytes
// (RFC 6962 §2.1).
var EmptyRoot = Hash(sha256.Sum256(nil))

// HashReader adapts r to tlog.HashReader, reading with ctx.
func HashReader(ctx context.Context, r Reader) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		return r.ReadHashes(ctx, indexes)
	})
}

// checkSize returns ErrBadRange for a negative size and ErrOutOfRange for a
// size beyond the log.
func checkSize(ctx context.Context, r Reader, what string, size int64) error {
	if size < 0 {
		return fmt.Errorf("%w: %s %d is negative", ErrBadRange, what, size)
	}
	n, err := r.Size(ctx)
	if err != nil {
		return err
	}
	if size > n {
		return fmt.Errorf("%w: %s %d, the log has %d entries", ErrOutOfRange, what, size, n)
	}
	return nil
}

// TreeHash returns the root hash of the log's first size entries.
func TreeHash(ctx context.Context, r Reader, size int64) (Hash, error) {
	if err := checkSize(ctx, r, "tree size", size); err != nil {
		return Hash{}, fmt.Errorf("audit: tree hash: %w", err)
	}
	h, err := tlog.TreeHash(size, HashReader(ctx, r))
	if err != nil {
		return Hash{}, fmt.Errorf("audit: tree hash of %d: %w", size, err)
	}
	return h, nil
}

// ProveInclusion returns the audit path of entry index in the tree of size
// entries (RFC 6962 §2.1.1): ErrBadRange for a negative index, ErrOutOfRange
// for index ≥ size or size beyond the log.
func ProveInclusion(ctx context.Context, r Reader, index, size int64) (tlog.RecordProof, error) {
	if index < 0 {
		return nil, fmt.Errorf("audit: inclusion proof: %w: index %d is negative", ErrBadRange, index)
	}
	if err := checkSize(ctx, r, "tree size", size); err != nil {
		return nil, fmt.Errorf("audit: inclusion proof: %w", err)
	}
	if index >= size {
		return nil, fmt.Errorf("audit: inclusion proof: %w: index %d in a tree of %d", ErrOutOfRange, index, size)
	}
	p, err := tlog.ProveRecord(size, index, HashReader(ctx, r))
	if err != nil {
		return nil, fmt.Errorf("audit: inclusion proof of %d in %d: %w", index, size, err)
	}
	return p, nil
}

// ProveInclusionByHash finds the entry with leaf hash leaf and returns its
// index and audit path in the tree of size entries. It returns ErrNotFound
// when no entry of that tree has that hash.
func ProveInclusionByHash(ctx context.Context, r Reader, leaf Hash, size int64) (int64, tlog.RecordProof, error) {
	if err := checkSize(ctx, r, "tree size", size); err != nil {
		return 0, nil, fmt.Errorf("audit: inclusion proof: %w", err)
	}
	index, err := r.LeafIndex(ctx, leaf)
	if err != nil {
		return 0, nil, fmt.Errorf("audit: inclusion proof of leaf %s: %w", leaf, err)
	}
	if index >= size {
		return 0, nil, fmt.Errorf("audit: inclusion proof: %w: leaf %s is not in the tree of %d", ErrNotFound, leaf, size)
	}
	p, err := tlog.ProveRecord(size, index, HashReader(ctx, r))
	if err != nil {
		return 0, nil, fmt.Errorf("audit: inclusion proof of %d in %d: %w", index, size, err)
	}
	return index, p, nil
}

// ProveConsistency returns the proof that the tree of newSize entries
// extends the tree of oldSize (RFC 6962 §2.1.2): ErrBadRange for negative
// sizes or oldSize > newSize, ErrOutOfRange for newSize beyond the log. The
// proof from the empty tree, or from a tree to itself, is empty
// (RFC 9162 §2.1.4).
func ProveConsistency(ctx context.Context, r Reader, oldSize, newSize int64) (tlog.TreeProof, error) {
	if oldSize < 0 || newSize < 0 {
		return nil, fmt.Errorf("audit: consistency proof: %w: sizes %d and %d", ErrBadRange, oldSize, newSize)
	}
	if oldSize > newSize {
		return nil, fmt.Errorf("audit: consistency proof: %w: old size %d is after new size %d", ErrBadRange, oldSize, newSize)
	}
	if err := checkSize(ctx, r, "new size", newSize); err != nil {
		return nil, fmt.Errorf("audit: consistency proof: %w", err)
	}
	if oldSize == 0 || oldSize == newSize {
		return tlog.TreeProof{}, nil
	}
	p, err := tlog.ProveTree(newSize, oldSize, HashReader(ctx, r))
	if err != nil {
		return nil, fmt.Errorf("audit: consistency proof %d→%d: %w", oldSize, newSize, err)
	}
	return p, nil
}

// CheckInclusion verifies that proof shows leaf at index in the tree of
// size entries with root hash root; ErrProof when it does not, ErrBadRange
// when index is not in [0, size).
func CheckInclusion(proof tlog.RecordProof, index, size int64, leaf, root Hash) error {
	if index < 0 || index >= size {
		return fmt.Errorf("audit: check inclusion: %w: index %d in a tree of %d", ErrBadRange, index, size)
	}
	if err := tlog.CheckRecord(proof, size, root, index, leaf); err != nil {
		return fmt.Errorf("audit: check inclusion of %d in %d: %w", index, size, ErrProof)
	}
	return nil
}

// CheckConsistency verifies that proof shows the tree of newSize entries
// with root newRoot extends the tree of oldSize entries with root oldRoot;
// ErrProof when it does not, ErrBadRange for negative or inverted sizes.
func CheckConsistency(proof tlog.TreeProof, oldSize int64, oldRoot Hash, newSize int64, newRoot Hash) error {
	if oldSize < 0 || oldSize > newSize {
		return fmt.Errorf("audit: check consistency: %w: sizes %d and %d", ErrBadRange, oldSize, newSize)
	}
	fail := fmt.Errorf("audit: check consistency %d→%d: %w", oldSize, newSize, ErrProof)
	switch {
	case oldSize == 0:
		if oldRoot != EmptyRoot || len(proof) != 0 {
			return fail
		}
		return nil
	case oldSize == newSize:
		if oldRoot != newRoot || len(proof) != 0 {
			return fail
		}
		return nil
	}
	if err := tlog.CheckTree(proof, newSize, newRoot, oldSize, oldRoot); err != nil {
		return fail
	}
	return nil
}

// ParseHash parses a hash given as standard base64 (as in checkpoints and
// proofs), URL-safe base64 with or without padding (as in URLs), or 64 hex
// digits; anything else is ErrMalformed.
func ParseHash(s string) (Hash, error) {
	var h Hash
	var b []byte
	var err error
	if strings.ContainsAny(s, "\r\n") { // Go's base64 decoders skip them
		return h, fmt.Errorf("%w: hash with a line break", ErrMalformed)
	}
	switch len(s) {
	case 44:
		if b, err = base64.StdEncoding.Strict().DecodeString(s); err != nil {
			b, err = base64.URLEncoding.Strict().DecodeString(s)
		}
	case 43:
		b, err = base64.RawURLEncoding.Strict().DecodeString(s)
	case 64:
		b, err = hex.DecodeString(s)
	default:
		return h, fmt.Errorf("%w: hash of %d characters", ErrMalformed, len(s))
	}
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("%w: hash %.70q", ErrMalformed, s)
	}
	copy(h[:], b)
	return h, nil
}
