package oidcop

import (
	"context"
	"sync"
	"time"

	"github.com/cedula/cedula/issuer"
)

// clientCache keeps recently read clients for a few seconds: the token
// endpoint reads the same agency's registration on every request. A change
// made through another replica is seen within clientCacheTTL.
type clientCache struct {
	mu sync.Mutex
	m  map[string]cachedClient
}

type cachedClient struct {
	c   issuer.Client
	exp time.Time
}

const clientCacheTTL = 5 * time.Second

func (s *storage) clientByID(ctx context.Context, id string) (issuer.Client, error) {
	now := time.Now()
	s.clients.mu.Lock()
	cc, ok := s.clients.m[id]
	s.clients.mu.Unlock()
	if ok && now.Before(cc.exp) {
		return cc.c, nil
	}
	c, err := s.store.Client(ctx, id)
	if err != nil {
		return c, err
	}
	s.clients.mu.Lock()
	if s.clients.m == nil || len(s.clients.m) > 10000 {
		s.clients.m = map[string]cachedClient{}
	}
	s.clients.m[id] = cachedClient{c: c, exp: now.Add(clientCacheTTL)}
	s.clients.mu.Unlock()
	return c, nil
}
