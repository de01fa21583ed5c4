package server

import (
	"sync"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"
)

// JobCache holds the rendered answers of GET /api/v1/jobs/{id}, so polling
// a job that has not changed costs no query. It is trusted only while a
// change feed reports every change to it, between Online and Offline;
// otherwise every read goes to the store.
type JobCache struct {
	views  *lru.Cache[string, etagged]
	online atomic.Bool

	// mu orders stores against invalidations; gen counts invalidations, so
	// a view read from the store before one is not stored after it.
	mu  sync.Mutex
	gen atomic.Uint64
}

// NewJobCache returns a cache of at most size views (size > 0), the least
// recently used evicted first. It serves nothing until Online.
func NewJobCache(size int) (*JobCache, error) {
	views, err := lru.New[string, etagged](size)
	if err != nil {
		return nil, err
	}
	return &JobCache{views: views}, nil
}

// WithJobCache serves job reads from c.
func WithJobCache(c *JobCache) Option {
	return func(s *Server) { s.jobViews = c }
}

// Online says every change from now on is reported; those before were not,
// so everything held is dropped.
func (c *JobCache) Online() {
	c.dropAll()
	c.online.Store(true)
}

// Offline says changes are no longer reported: nothing is served or kept.
func (c *JobCache) Offline() {
	c.online.Store(false)
	c.dropAll()
}

// Changed drops the view of the job with this id.
func (c *JobCache) Changed(id string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	c.views.Remove(id)
}

// dropAll drops every view, for changes to jobs not known by id.
func (c *JobCache) dropAll() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	c.views.Purge()
}

func (c *JobCache) get(id string) (etagged, bool) {
	if c == nil || !c.online.Load() {
		return etagged{}, false
	}
	return c.views.Get(id)
}

// generation is taken before reading a view from the store, for put.
func (c *JobCache) generation() uint64 {
	if c == nil {
		return 0
	}
	return c.gen.Load()
}

// put keeps v as the view of id unless something was invalidated since gen
// was taken: v may predate that change.
func (c *JobCache) put(id string, gen uint64, v etagged) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.online.Load() && c.gen.Load() == gen {
		c.views.Add(id, v)
	}
}
