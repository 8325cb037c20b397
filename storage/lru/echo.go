package lru

import (
	"strings"

	"github.com/gecaso/gecaso/storage"
)

// Over an inner storage shared between processes that tells of removals (a
// storage.Invalidator such as Redis), the lru hears the keys and prefixes
// any process removed, and drops them from its index: a key another
// process removed should not hold a place in the bound. It hears its own
// removals too (Remove, DeletePrefix, evictions), a moment after it made
// them and updated the index itself; by then it may have set the key
// again, and dropping it would leave a key in the inner storage that the
// bound no longer counts. So the lru counts its own removals until their
// invalidations come back, and lets those pass.
//
// A removal by another process that reaches the lru after the lru set the
// same key again still drops the key from the index; a later Get hit
// indexes it again.

// maxEchoes bounds the removals awaited: an inner storage that does not
// publish (redis.WithPublish(false)) never sends them back.
const maxEchoes = 1 << 14

// echoes counts the lru's own removals whose invalidations are still to
// come, by key and by prefix. The zero value is empty. The lru's mutex
// guards it.
type echoes struct {
	keys     map[string]int
	prefixes map[string]int
	n        int
}

// expectEchoes records removals about to be made through the inner
// storage, when the lru hears its invalidations.
func (s *Storage) expectEchoes(keys, prefixes []string) {
	if s.unsubscribe == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := &s.echoes
	if e.n+len(keys)+len(prefixes) > maxEchoes {
		*e = echoes{}
	}
	for _, k := range keys {
		if e.keys == nil {
			e.keys = make(map[string]int)
		}
		e.keys[k]++
	}
	for _, p := range prefixes {
		if e.prefixes == nil {
			e.prefixes = make(map[string]int)
		}
		e.prefixes[p]++
	}
	e.n += len(keys) + len(prefixes)
}

// cancelLocked forgets removals recorded by expectEchoes that failed.
func (e *echoes) cancelLocked(keys, prefixes []string) {
	for _, k := range keys {
		e.takeLocked(e.keys, k)
	}
	for _, p := range prefixes {
		e.takeLocked(e.prefixes, p)
	}
}

// takeLocked takes one awaited removal of k from m, and reports whether
// there was one.
func (e *echoes) takeLocked(m map[string]int, k string) bool {
	n, ok := m[k]
	if !ok {
		return false
	}
	if n <= 1 {
		delete(m, k)
	} else {
		m[k] = n - 1
	}
	e.n--
	return true
}

// forget drops from the index what an invalidation of the inner storage
// names, except the lru's own removals. The empty prefix, which says that
// invalidations may have been lost, changes nothing: keys that left the
// inner storage meanwhile leave the index on their next miss.
func (s *Storage) forget(inv storage.Invalidation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gen := s.writes.Load()
	for _, k := range inv.Keys {
		if s.managed(k) && !s.echoes.takeLocked(s.echoes.keys, k) {
			s.idx.remove(k, gen)
		}
	}
	for _, p := range inv.Prefixes {
		if s.echoes.takeLocked(s.echoes.prefixes, p) || p == "" {
			continue
		}
		if strings.HasPrefix(p, s.prefix) || strings.HasPrefix(s.prefix, p) {
			s.idx.removePrefix(p, gen)
		}
	}
}
