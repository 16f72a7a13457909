package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cedula/cedula/internal/keys"
	"github.com/cedula/cedula/internal/keys/dek"
)

// SubjectRing is the keys.Wrapper ring that wraps the subjects' data keys.
const SubjectRing = "audit-subjects"

// Defaults of ShredderConfig.
const (
	// DefaultKeyCacheTTL is how long a Shredder keeps an unwrapped data key.
	// It bounds how long another replica can still read a subject's details
	// after an Erase made elsewhere (see Shredder).
	DefaultKeyCacheTTL = 30 * time.Second
	// DefaultKeyCacheSize is the most unwrapped data keys a Shredder keeps.
	DefaultKeyCacheSize = 10000
)

// MaxPlainDetails is the longest plaintext Shredder.Seal accepts: its
// sealed form is at most MaxDetails bytes.
const MaxPlainDetails = MaxDetails - dek.Overhead

// ErrErased: the subject's data key was destroyed (Shredder.Erase). Their
// sealed details can never be read again, and no new details are sealed for
// them.
var ErrErased = errors.New("audit: subject erased")

// SubjectKeys stores each subject's data key in wrapped form (keys.Wrapper)
// and remembers erased subjects. Every method is safe for concurrent use by
// several goroutines and several replicas sharing one store.
type SubjectKeys interface {
	// SubjectKey returns subject's wrapped data key; ErrErased when it was
	// erased, ErrNotFound when it never had one.
	SubjectKey(ctx context.Context, subject string) (wrapped []byte, err error)
	// CreateSubjectKey stores wrapped as subject's key unless subject has
	// one already, atomically: of concurrent calls (in any replica) exactly
	// one stores its key. It returns the key stored now — wrapped, or the
	// one stored earlier — or ErrErased for an erased subject, which never
	// gets a key again.
	CreateSubjectKey(ctx context.Context, subject string, wrapped []byte) (stored []byte, err error)
	// EraseSubjectKey destroys subject's wrapped key, leaving a record that
	// subject was erased (also when it had no key). Erasing an erased
	// subject does nothing and returns nil. The store must not keep the
	// wrapped bytes anywhere it controls (free pages, old row versions)
	// longer than it documents.
	EraseSubjectKey(ctx context.Context, subject string) error
}

// ShredderConfig configures a Shredder. Keys and Wrapper are required.
type ShredderConfig struct {
	Keys SubjectKeys
	// Wrapper wraps the data keys under ring Ring (keys.WrapperOf gives a
	// Manager's).
	Wrapper keys.Wrapper
	// Ring is the wrapping ring; "" means SubjectRing.
	Ring string
	// CacheTTL is how long an unwrapped data key is kept in memory, so that
	// a burst of entries about one citizen costs one unwrap (a Vault round
	// trip) rather than one each: 0 means DefaultKeyCacheTTL, a negative
	// value keeps no key.
	CacheTTL time.Duration
	// CacheSize is the most keys kept; 0 means DefaultKeyCacheSize.
	CacheSize int
	// Now is the cache's clock; nil means time.Now.
	Now func() time.Time
}

// Shredder encrypts the personal details of entries (Entry.Details) under a
// data key of their subject's own, and crypto-shreds them: Erase destroys
// the subject's key, after which their details — in the log, in mirrors, in
// backups — can no longer be read, while the log, which commits to the
// ciphertext only, keeps every proof valid.
//
// Each subject's data key (dek.New, AES-256) is made on the first Seal for
// that subject, wrapped by the Wrapper under Ring with the subject's
// pseudonym as associated data (so a wrapped key copied to another subject
// does not open), and stored in SubjectKeys. Details are sealed with
// dek.Seal, also bound to the subject's pseudonym.
//
// Unwrapped keys are cached for CacheTTL. Erase drops the key from this
// Shredder's cache at once; a Shredder of another replica may keep using a
// key it cached for up to its CacheTTL after the erase — details it seals
// meanwhile are under the destroyed key and unreadable once that cache
// entry ends.
//
// A Shredder is safe for concurrent use.
type Shredder struct {
	cfg ShredderConfig

	mu      sync.Mutex
	cache   map[string]cachedKey
	loading map[string]*keyLoad
	// gen counts erasures: a key fetched while an Erase ran is not cached.
	gen uint64
}

type cachedKey struct {
	key     dek.Key
	expires time.Time
}

// keyLoad is one fetch (or creation) of a subject's key that concurrent
// callers in this process share.
type keyLoad struct {
	done chan struct{}
	key  dek.Key // valid after done is closed, when err is nil; never destroyed
	err  error
}

// NewShredder checks cfg and returns a Shredder.
func NewShredder(cfg ShredderConfig) (*Shredder, error) {
	var problems []error
	if cfg.Keys == nil {
		problems = append(problems, errors.New("no subject key store"))
	}
	if cfg.Wrapper == nil {
		problems = append(problems, errors.New("no key wrapper"))
	}
	if cfg.Ring == "" {
		cfg.Ring = SubjectRing
	}
	if !keys.ValidRing(cfg.Ring) {
		problems = append(problems, fmt.Errorf("ring %q is not a valid ring name", cfg.Ring))
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = DefaultKeyCacheTTL
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = DefaultKeyCacheSize
	}
	if cfg.CacheSize < 0 {
		problems = append(problems, fmt.Errorf("cache size %d is negative", cfg.CacheSize))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("audit: shredder: %w", errors.Join(problems...))
	}
	return &Shredder{cfg: cfg, cache: map[string]cachedKey{}, loading: map[string]*keyLoad{}}, nil
}

// keyAAD is the associated data of a subject's wrapped key, detailsAAD that
// of their sealed details. Both bind the subject's pseudonym; the prefixes
// keep the two uses apart.
func keyAAD(subject string) []byte { return []byte("cedula-audit-subject-key:v1\x00" + subject) }

func detailsAAD(subject string) []byte {
	return []byte("cedula-audit-details:v1\x00" + subject)
}

func checkSubject(subject string) error {
	switch {
	case subject == "":
		return fmt.Errorf("%w: details need a subject", ErrInvalidEntry)
	case !utf8.ValidString(subject):
		return fmt.Errorf("%w: subject is not valid UTF-8", ErrInvalidEntry)
	case len(subject) > MaxFieldLen:
		return fmt.Errorf("%w: subject is %d bytes, at most %d allowed", ErrInvalidEntry, len(subject), MaxFieldLen)
	}
	return nil
}

// Seal encrypts details under subject's data key, making the key on the
// first call for subject, and returns the value for Entry.Details of an
// entry whose Subject is subject. Empty details give nil (an entry without
// details). It returns ErrErased for an erased subject, ErrInvalidEntry for
// an empty or invalid subject or details longer than MaxPlainDetails.
func (s *Shredder) Seal(ctx context.Context, subject string, details []byte) ([]byte, error) {
	if err := checkSubject(subject); err != nil {
		return nil, err
	}
	if len(details) == 0 {
		return nil, nil
	}
	if len(details) > MaxPlainDetails {
		return nil, fmt.Errorf("%w: details are %d bytes, at most %d allowed", ErrInvalidEntry, len(details), MaxPlainDetails)
	}
	k, err := s.key(ctx, subject, true)
	if err != nil {
		return nil, fmt.Errorf("audit: seal details: %w", err)
	}
	defer k.Destroy()
	return dek.Seal(k, details, detailsAAD(subject))
}

// Open decrypts details that Seal sealed for subject. Empty sealed gives
// nil. It returns ErrErased once subject was erased, ErrNotFound when
// subject never had a key, and ErrCorrupt (with dek.ErrOpen) when sealed
// does not open under subject's key: altered, or sealed for someone else.
func (s *Shredder) Open(ctx context.Context, subject string, sealed []byte) ([]byte, error) {
	if err := checkSubject(subject); err != nil {
		return nil, err
	}
	if len(sealed) == 0 {
		return nil, nil
	}
	k, err := s.key(ctx, subject, false)
	if err != nil {
		return nil, fmt.Errorf("audit: open details: %w", err)
	}
	defer k.Destroy()
	pt, err := dek.Open(k, sealed, detailsAAD(subject))
	if err != nil {
		return nil, fmt.Errorf("audit: open details: %w: %w", ErrCorrupt, err)
	}
	return pt, nil
}

// SealData encrypts data of any length under subject's data key — the
// key Erase destroys — bound to subject and to label, which names what the
// data is (another room's record: "wallet/credential/ID"), so that sealed
// data moved to another record or subject does not open. Rooms other than
// the log use it for personal data that must die with the citizen's
// erasure. It returns ErrErased for an erased subject.
func (s *Shredder) SealData(ctx context.Context, subject, label string, data []byte) ([]byte, error) {
	if err := checkSubject(subject); err != nil {
		return nil, err
	}
	k, err := s.key(ctx, subject, true)
	if err != nil {
		return nil, fmt.Errorf("audit: seal data: %w", err)
	}
	defer k.Destroy()
	return dek.Seal(k, data, dataAAD(subject, label))
}

// OpenData decrypts what SealData sealed for subject and label. It returns
// ErrErased once subject was erased, ErrNotFound when subject never had a
// key, and ErrCorrupt when sealed does not open.
func (s *Shredder) OpenData(ctx context.Context, subject, label string, sealed []byte) ([]byte, error) {
	if err := checkSubject(subject); err != nil {
		return nil, err
	}
	k, err := s.key(ctx, subject, false)
	if err != nil {
		return nil, fmt.Errorf("audit: open data: %w", err)
	}
	defer k.Destroy()
	pt, err := dek.Open(k, sealed, dataAAD(subject, label))
	if err != nil {
		return nil, fmt.Errorf("audit: open data: %w: %w", ErrCorrupt, err)
	}
	return pt, nil
}

// dataAAD binds SealData's output to its subject and label (the subject
// length-prefixed, as it may hold any byte); its prefix keeps it apart
// from the log's details.
func dataAAD(subject, label string) []byte {
	return []byte("cedula-subject-data:v1\x00" + strconv.Itoa(len(subject)) + ":" + subject + label)
}

// Erase crypto-shreds subject: it destroys their wrapped data key in the
// store and drops it from this Shredder's cache, so that their details no
// longer open (ErrErased) and no new ones are sealed. Erasing twice, or a
// subject that never had details, is not an error.
func (s *Shredder) Erase(ctx context.Context, subject string) error {
	if err := checkSubject(subject); err != nil {
		return err
	}
	err := s.cfg.Keys.EraseSubjectKey(ctx, subject)
	// Drop the cached key even when the store failed: it may have erased.
	s.mu.Lock()
	s.gen++
	if c, ok := s.cache[subject]; ok {
		c.key.Destroy()
		delete(s.cache, subject)
	}
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("audit: erase subject: %w", err)
	}
	return nil
}

// key returns a copy of subject's data key, which the caller destroys; with
// create, it makes the key when subject has none.
func (s *Shredder) key(ctx context.Context, subject string, create bool) (dek.Key, error) {
	for {
		s.mu.Lock()
		if c, ok := s.cache[subject]; ok {
			if s.cfg.Now().Before(c.expires) {
				k := dek.Key(bytes.Clone(c.key))
				s.mu.Unlock()
				return k, nil
			}
			c.key.Destroy()
			delete(s.cache, subject)
		}
		if l, ok := s.loading[subject]; ok {
			s.mu.Unlock()
			select {
			case <-l.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if l.err == nil {
				return dek.Key(bytes.Clone(l.key)), nil
			}
			if errors.Is(l.err, ErrNotFound) && create {
				continue // a load for Open found no key; this call makes one
			}
			return nil, l.err
		}
		l := &keyLoad{done: make(chan struct{})}
		s.loading[subject] = l
		gen := s.gen
		s.mu.Unlock()

		// The load runs for every waiter, so it is not cut short by this
		// caller's cancellation alone.
		l.key, l.err = s.load(context.WithoutCancel(ctx), subject, create)
		s.mu.Lock()
		delete(s.loading, subject)
		if l.err == nil && s.gen == gen && s.cfg.CacheTTL > 0 && s.cfg.CacheSize > 0 {
			s.evictLocked()
			s.cache[subject] = cachedKey{key: dek.Key(bytes.Clone(l.key)), expires: s.cfg.Now().Add(s.cfg.CacheTTL)}
		}
		s.mu.Unlock()
		close(l.done)
		if l.err != nil {
			return nil, l.err
		}
		return dek.Key(bytes.Clone(l.key)), nil
	}
}

// evictLocked makes room for one more cached key: it drops expired keys,
// then, when the cache is still full, arbitrary ones.
func (s *Shredder) evictLocked() {
	if len(s.cache) < s.cfg.CacheSize {
		return
	}
	now := s.cfg.Now()
	for subj, c := range s.cache {
		if !now.Before(c.expires) {
			c.key.Destroy()
			delete(s.cache, subj)
		}
	}
	for subj, c := range s.cache {
		if len(s.cache) < s.cfg.CacheSize {
			break
		}
		c.key.Destroy()
		delete(s.cache, subj)
	}
}

// load reads subject's wrapped key from the store and unwraps it; with
// create, a subject without a key gets a new one.
func (s *Shredder) load(ctx context.Context, subject string, create bool) (dek.Key, error) {
	aad := keyAAD(subject)
	wrapped, err := s.cfg.Keys.SubjectKey(ctx, subject)
	if errors.Is(err, ErrNotFound) && create {
		fresh := dek.New()
		mine, err := s.cfg.Wrapper.WrapKey(ctx, s.cfg.Ring, fresh, aad)
		if err != nil {
			fresh.Destroy()
			return nil, fmt.Errorf("wrap a new data key: %w", err)
		}
		stored, err := s.cfg.Keys.CreateSubjectKey(ctx, subject, mine)
		if err != nil {
			fresh.Destroy()
			return nil, err
		}
		if bytes.Equal(stored, mine) {
			return fresh, nil
		}
		// Another replica stored its key first: use that one.
		fresh.Destroy()
		wrapped = stored
	} else if err != nil {
		return nil, err
	}
	raw, err := s.cfg.Wrapper.UnwrapKey(ctx, s.cfg.Ring, wrapped, aad)
	if err != nil {
		return nil, fmt.Errorf("unwrap the data key: %w", err)
	}
	if len(raw) != dek.Size {
		clear(raw)
		return nil, fmt.Errorf("%w: the unwrapped data key is %d bytes", ErrCorrupt, len(raw))
	}
	return dek.Key(raw), nil
}
