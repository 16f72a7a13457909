package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/cedula/cedula/internal/keys"
)

// DefaultCheckpointInterval is how often a Checkpointer looks for new
// entries. Half a second keeps every entry under a signed checkpoint within
// a second of its append, signing included.
const DefaultCheckpointInterval = 500 * time.Millisecond

// CheckpointerConfig configures a Checkpointer. Origin, Log, Store and Keys
// are required.
type CheckpointerConfig struct {
	// Origin names the log in its checkpoints and is the note key name
	// (see ValidOrigin), e.g. "audit.cedula.example.gov.uy".
	Origin string
	Log    Reader
	Store  Checkpoints
	// Keys holds the ring CheckpointRing; the Checkpointer creates it with
	// an Ed25519 key on first use.
	Keys keys.Manager
	// Interval is how often Run checks for new entries: more than 0, at
	// most a second; 0 means DefaultCheckpointInterval.
	Interval time.Duration
	// Logger receives a line for every failure of Run; nil discards.
	Logger *slog.Logger
	// Now stamps stored checkpoints; nil means time.Now.
	Now func() time.Time
}

// Checkpointer signs and stores checkpoints of a log: one whenever the log
// has grown since the latest stored checkpoint, and never one inconsistent
// with an earlier one. Several Checkpointers — one per replica — may share
// a log: their checkpoints of one size are equal, and each checks the
// latest stored checkpoint, whoever signed it, before signing.
type Checkpointer struct {
	cfg CheckpointerConfig
	log *slog.Logger

	mu sync.Mutex // serialises Checkpoint
	// last is the latest checkpoint this Checkpointer signed or verified.
	last *Checkpoint
}

// NewCheckpointer checks cfg and returns a Checkpointer; it reports every
// problem of cfg at once.
func NewCheckpointer(cfg CheckpointerConfig) (*Checkpointer, error) {
	var problems []error
	if !ValidOrigin(cfg.Origin) {
		problems = append(problems, fmt.Errorf("origin %q is empty or holds a space or '+'", cfg.Origin))
	}
	if cfg.Log == nil {
		problems = append(problems, errors.New("no log"))
	}
	if cfg.Store == nil {
		problems = append(problems, errors.New("no checkpoint store"))
	}
	if cfg.Keys == nil {
		problems = append(problems, errors.New("no key manager"))
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultCheckpointInterval
	}
	if cfg.Interval < 0 || cfg.Interval > time.Second {
		problems = append(problems, fmt.Errorf("interval %v is not in (0, 1s]", cfg.Interval))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("audit: checkpointer: %w", errors.Join(problems...))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Checkpointer{cfg: cfg, log: log}, nil
}

// Origin returns the origin the checkpoints name.
func (c *Checkpointer) Origin() string { return c.cfg.Origin }

// Run publishes checkpoints until ctx ends: every Interval it calls
// Checkpoint, logging failures and carrying on (an ErrInconsistent keeps
// failing — and being logged — until an operator acts). Start it with
// `go cp.Run(ctx)`; cancel ctx to stop it. It returns nil once ctx has
// ended and the round in progress is over.
func (c *Checkpointer) Run(ctx context.Context) error {
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := c.Checkpoint(ctx); err != nil && ctx.Err() == nil {
			c.log.ErrorContext(ctx, "audit: checkpoint failed", "err", err,
				"inconsistent", errors.Is(err, ErrInconsistent))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// VerifierKeys returns the note verifier keys of the checkpoint ring (the
// active key first), the keys clients use to check checkpoints.
func (c *Checkpointer) VerifierKeys(ctx context.Context) ([]string, error) {
	return VerifierKeys(ctx, c.cfg.Keys, c.cfg.Origin)
}

// open verifies a stored checkpoint's signature with the ring's keys.
func (c *Checkpointer) open(ctx context.Context, stored Checkpoint) (Checkpoint, error) {
	vkeys, err := c.VerifierKeys(ctx)
	if err != nil {
		return Checkpoint{}, err
	}
	vs, err := Verifiers(vkeys...)
	if err != nil {
		return Checkpoint{}, err
	}
	opened, err := OpenCheckpoint(stored.Note, c.cfg.Origin, vs)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("stored checkpoint of size %d: %w", stored.Size, err)
	}
	if opened.Size != stored.Size || opened.Root != stored.Root {
		return Checkpoint{}, fmt.Errorf("%w: stored checkpoint of size %d root %s holds a note of size %d root %s",
			ErrInconsistent, stored.Size, stored.Root, opened.Size, opened.Root)
	}
	opened.Time = stored.Time
	return opened, nil
}

// Checkpoint signs and stores a checkpoint of the whole log if it has grown
// since the latest stored checkpoint (or none is stored yet, even for an
// empty log), and returns the latest checkpoint. Before signing it checks
// that the latest stored checkpoint and the last one this Checkpointer
// handled are signed by the ring and consistent with the stored tree: if
// not, it returns ErrBadSignature or ErrInconsistent and signs nothing.
func (c *Checkpointer) Checkpoint(ctx context.Context) (Checkpoint, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp, err := c.checkpoint(ctx)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: checkpoint: %w", err)
	}
	return cp, nil
}

func (c *Checkpointer) checkpoint(ctx context.Context) (Checkpoint, error) {
	var bases []Checkpoint // signed earlier: the new one must extend each
	prev, err := c.cfg.Store.LatestCheckpoint(ctx)
	switch {
	case errors.Is(err, ErrNotFound):
		if c.last != nil {
			return Checkpoint{}, fmt.Errorf("%w: no checkpoint stored, but size %d was signed", ErrInconsistent, c.last.Size)
		}
	case err != nil:
		return Checkpoint{}, err
	default:
		if c.last == nil || !bytes.Equal(prev.Note, c.last.Note) {
			if prev, err = c.open(ctx, prev); err != nil {
				return Checkpoint{}, err
			}
		}
		if c.last != nil && prev.Size < c.last.Size {
			return Checkpoint{}, fmt.Errorf("%w: latest stored checkpoint has size %d, but size %d was signed",
				ErrInconsistent, prev.Size, c.last.Size)
		}
		bases = append(bases, prev)
	}
	if c.last != nil && (len(bases) == 0 || c.last.Size != bases[0].Size) {
		bases = append(bases, *c.last)
	}

	n, err := c.cfg.Log.Size(ctx)
	if err != nil {
		return Checkpoint{}, err
	}
	if len(bases) > 0 && n == bases[0].Size && bases[0].Note != nil {
		c.last = &bases[0]
		return bases[0], nil
	}
	hr := HashReader(ctx, c.cfg.Log)
	root, err := tlog.TreeHash(n, hr)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("tree hash of %d: %w", n, err)
	}
	// C2SP tlog-checkpoint, "Signatures": never sign a checkpoint
	// inconsistent with one signed before. RFC 6962 §2.1.2 proofs from each
	// earlier checkpoint, built from the stored hashes, must lead to the
	// roots that were signed.
	for _, b := range bases {
		if n < b.Size {
			return Checkpoint{}, fmt.Errorf("%w: the log has %d entries, but a checkpoint of %d was signed", ErrInconsistent, n, b.Size)
		}
		if b.Size == 0 {
			if b.Root != EmptyRoot {
				return Checkpoint{}, fmt.Errorf("%w: checkpoint of size 0 has root %s", ErrInconsistent, b.Root)
			}
			continue
		}
		proof, err := tlog.ProveTree(n, b.Size, hr)
		if err != nil {
			return Checkpoint{}, fmt.Errorf("consistency proof %d→%d: %w", b.Size, n, err)
		}
		if err := tlog.CheckTree(proof, n, root, b.Size, b.Root); err != nil {
			return Checkpoint{}, fmt.Errorf("%w: the stored tree of %d entries does not extend the checkpoint of %d (root %s)",
				ErrInconsistent, n, b.Size, b.Root)
		}
	}

	key, err := c.cfg.Keys.Active(ctx, CheckpointRing, keys.EdDSA)
	if err != nil {
		return Checkpoint{}, err
	}
	signer, err := NoteSigner(ctx, c.cfg.Origin, key)
	if err != nil {
		return Checkpoint{}, err
	}
	msg, err := SignCheckpoint(c.cfg.Origin, n, root, signer)
	if err != nil {
		return Checkpoint{}, err
	}
	// Check the signature before publishing it: a key backend that signs
	// wrongly must not put an unverifiable checkpoint out.
	vkey, err := VerifierKey(c.cfg.Origin, key.Public())
	if err != nil {
		return Checkpoint{}, err
	}
	vs, err := Verifiers(vkey)
	if err != nil {
		return Checkpoint{}, err
	}
	if _, err := OpenCheckpoint(msg, c.cfg.Origin, vs); err != nil {
		return Checkpoint{}, fmt.Errorf("signed checkpoint does not verify with key %s: %w", key.ID(), err)
	}
	cp := Checkpoint{Origin: c.cfg.Origin, Size: n, Root: root, Note: msg, Time: c.cfg.Now().UTC().Truncate(time.Microsecond)}
	if err := c.cfg.Store.AddCheckpoint(ctx, cp); err != nil {
		return Checkpoint{}, err
	}
	c.last = &cp
	return cp, nil
}
