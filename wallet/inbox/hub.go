package inbox

import (
	"context"
	"sync"
	"time"
)

// Hub hands new messages to the streams this replica holds. It follows
// the store's feed — every citizen's messages in commit order — from the
// head it found at start: woken at once by posts on this replica, and
// every Config.Poll for posts on others. A message is opened once,
// whatever the number of its citizen's streams.
type Hub struct {
	s    *Service
	wake chan struct{}

	mu   sync.Mutex
	subs map[string]map[*Subscription]struct{}
	n    int
}

// streamBuffer is how many messages a stream may lag behind before it is
// dropped; the app reconnects with the last ID it saw and misses nothing.
const streamBuffer = 64

// Subscription is one stream's view of its citizen's new messages.
type Subscription struct {
	h         *Hub
	citizenID string
	c         chan *Message
	gone      chan struct{}
	once      sync.Once
}

// C delivers the messages, in order; every stream of the citizen gets the
// same *Message, which none may change.
func (s *Subscription) C() <-chan *Message { return s.c }

// Gone is closed when the hub dropped the stream (it fell behind, or the
// hub stopped): what C delivered is all it will.
func (s *Subscription) Gone() <-chan struct{} { return s.gone }

// Cancel ends the subscription.
func (s *Subscription) Cancel() { s.h.drop(s) }

func newHub(s *Service) *Hub {
	return &Hub{s: s, wake: make(chan struct{}, 1), subs: map[string]map[*Subscription]struct{}{}}
}

func (h *Hub) wakeUp() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

func (h *Hub) subscribe(citizenID string) *Subscription {
	sub := &Subscription{h: h, citizenID: citizenID, c: make(chan *Message, streamBuffer), gone: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.subs[citizenID]
	if m == nil {
		m = map[*Subscription]struct{}{}
		h.subs[citizenID] = m
	}
	m[sub] = struct{}{}
	h.n++
	return sub
}

func (h *Hub) drop(sub *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropLocked(sub)
}

func (h *Hub) dropLocked(sub *Subscription) {
	m := h.subs[sub.citizenID]
	if _, ok := m[sub]; !ok {
		return
	}
	delete(m, sub)
	if len(m) == 0 {
		delete(h.subs, sub.citizenID)
	}
	h.n--
	sub.once.Do(func() { close(sub.gone) })
}

func (h *Hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// feedPage is how many rows a read of the feed takes at most.
const feedPage = 512

// run follows the feed until ctx ends; then every stream is gone.
func (h *Hub) run(ctx context.Context) error {
	defer func() {
		h.mu.Lock()
		for _, m := range h.subs {
			for sub := range m {
				h.dropLocked(sub)
			}
		}
		h.mu.Unlock()
	}()
	var head int64
	for {
		var err error
		if head, err = h.s.cfg.Store.Head(ctx); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	t := time.NewTicker(h.s.cfg.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-h.wake:
		case <-t.C:
		}
		head = h.catchUp(ctx, head)
	}
}

// catchUp delivers every row after head and returns the new head. With no
// stream open it only moves the head, reading no row. A failure leaves
// the head where delivery stopped, for the next round.
func (h *Hub) catchUp(ctx context.Context, head int64) int64 {
	for {
		if h.count() == 0 {
			if n, err := h.s.cfg.Store.Head(ctx); err == nil {
				return max(n, head)
			}
			return head
		}
		rows, err := h.s.cfg.Store.Feed(ctx, head, feedPage)
		if err != nil {
			return head
		}
		for _, r := range rows {
			h.deliver(ctx, r)
			head = r.Seq
		}
		if len(rows) < feedPage {
			return head
		}
	}
}

// deliver hands r, opened, to its citizen's streams; a stream whose
// buffer is full is dropped. When r cannot be opened (the key manager
// failing, the citizen being erased) the citizen's streams are dropped:
// resumed, they read it from the store and the app sees what fails.
func (h *Hub) deliver(ctx context.Context, r Row) {
	h.mu.Lock()
	_, any := h.subs[r.CitizenID]
	h.mu.Unlock()
	if !any {
		return
	}
	m, err := h.s.open(ctx, r)
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.subs[r.CitizenID] {
		if err != nil {
			h.dropLocked(sub)
			continue
		}
		select {
		case sub.c <- &m:
		default:
			h.dropLocked(sub)
		}
	}
}
