package redis

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gecaso/gecaso/internal/keyfmt"
	"github.com/gecaso/gecaso/storage"
)

// scanCount is the COUNT hint of every SCAN: about how many keys one round
// trip looks at.
const scanCount = 1000

// Scan calls fn for every key that starts with prefix (every key under the
// [WithPrefix] prefix when prefix is empty), with that storage prefix
// removed. It walks the keyspace with SCAN and MATCH, never KEYS, so the
// server stays responsive; in a Cluster it walks every master in turn, and
// in a Ring every live shard. Reserved keys (locks, see [ReservedPrefix])
// are never reported.
//
// Order is the server's hash order, which means none. KeyInfo.Size is the
// value's length (STRLEN; 0 for a key that is not a string) and
// KeyInfo.ExpiresAt comes from PTTL; both are read in one pipelined round
// trip per page of keys. KeyInfo.Seq is 0: Redis does not record write
// order. As SCAN guarantees, every key present for the whole scan is
// reported; keys written or removed during it may or may not be, and a key
// may be reported twice if the server resizes its table meanwhile.
//
// Scan stops with fn's error, unwrapped, when fn returns one, and with
// ctx.Err() when ctx ends. fn is never called concurrently.
func (s *Storage) Scan(ctx context.Context, prefix string, fn func(storage.KeyInfo) error) error {
	if s.closed.Load() {
		return storage.ErrClosed
	}
	if reserved(prefix) {
		return ctx.Err()
	}
	pattern := escapeGlob(s.prefix+prefix) + "*"
	nodes, _, err := s.nodes(ctx)
	if err != nil {
		return s.scanErr(ctx, "scan", prefix, err)
	}
	for _, node := range nodes {
		err := scanNode(ctx, node, pattern, func(keys []string) error {
			if keys = s.entries(keys, prefix); len(keys) == 0 {
				return nil
			}
			return s.report(ctx, node, keys, fn)
		})
		if err != nil {
			return s.scanErr(ctx, "scan", prefix, err)
		}
	}
	return nil
}

// entries drops the reserved keys from a page of full Redis keys found by
// a SCAN for prefix, in place. Only a prefix that the reserved prefix
// starts with (the empty one, "@", ...) can find them.
func (s *Storage) entries(keys []string, prefix string) []string {
	if !strings.HasPrefix(ReservedPrefix, prefix) {
		return keys
	}
	return slices.DeleteFunc(keys, func(k string) bool { return reserved(strings.TrimPrefix(k, s.prefix)) })
}

// fnError carries an error returned by the caller's callback through the
// scan loop, so that it is returned unwrapped.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// scanErr shapes an error of Scan or DeletePrefix: the callback's own error
// and the context's error come back bare, the rest wrapped.
func (s *Storage) scanErr(ctx context.Context, op, prefix string, err error) error {
	if fe, ok := err.(fnError); ok {
		return fe.err
	}
	if ctxErr := ctxDone(ctx); ctxErr != nil {
		return ctxErr
	}
	return wrap(ctx, err, "%s %s", op, keyfmt.Quote(prefix))
}

// report reads the size and expiry of one page of keys and hands them to
// fn. Keys that vanished since SCAN saw them are skipped.
func (s *Storage) report(ctx context.Context, node goredis.Cmdable, keys []string, fn func(storage.KeyInfo) error) error {
	strlens := make([]*goredis.IntCmd, len(keys))
	pttls := make([]*goredis.DurationCmd, len(keys))
	_, err := node.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, k := range keys {
			strlens[i] = p.StrLen(ctx, k)
			pttls[i] = p.PTTL(ctx, k)
		}
		return nil
	})
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	// Per-command errors (WRONGTYPE from STRLEN on a hash) are checked
	// below; a failed pipeline as a whole shows in every command.
	now := time.Now()
	for i, k := range keys {
		ttl, err := pttls[i].Result()
		if err != nil {
			return err
		}
		if ttl == -2 { // gone since SCAN
			continue
		}
		info := storage.KeyInfo{Key: strings.TrimPrefix(k, s.prefix)}
		if size, err := strlens[i].Result(); err == nil {
			info.Size = size
		}
		if ttl >= 0 {
			info.ExpiresAt = now.Add(ttl)
		}
		if err := fn(info); err != nil {
			return fnError{err}
		}
	}
	return nil
}

// scanNode runs SCAN MATCH pattern to completion on one node, handing each
// non-empty page of keys to page.
func scanNode(ctx context.Context, node goredis.Cmdable, pattern string, page func([]string) error) error {
	var cursor uint64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		keys, next, err := node.Scan(ctx, cursor, pattern, scanCount).Result()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			if err := page(keys); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// DeletePrefix removes every key that starts with prefix (every key under
// the [WithPrefix] prefix when prefix is empty; with no storage prefix
// either, every key of the database), except the reserved keys (locks, see
// [ReservedPrefix]). It walks the keyspace with SCAN MATCH, node by node in
// a Cluster, and removes each page with UNLINK in one round trip. Then it
// publishes the invalidation of prefix (unless [WithPublish] turned it
// off), also when the walk failed part way, if ctx still allows. Keys
// written during the walk may survive it. A cancelled ctx stops it with
// ctx.Err(), leaving part of the keys removed and the invalidation
// unpublished.
//
// Cost grows with the number of keys in the database, not only with those
// removed; gecaso's Func.Purge uses it to drop one function's entries.
func (s *Storage) DeletePrefix(ctx context.Context, prefix string) error {
	if s.closed.Load() {
		return storage.ErrClosed
	}
	if reserved(prefix) {
		return ctx.Err()
	}
	err := s.deletePrefix(ctx, prefix)
	if s.publish && ctx.Err() == nil {
		msg := appendMessage(nil, storage.Invalidation{Prefixes: []string{prefix}})
		if perr := s.publishAll(ctx, msg); perr != nil && err == nil {
			return wrap(ctx, perr, "delete prefix %s: removed, but the invalidation was not published", keyfmt.Quote(prefix))
		}
	}
	return err
}

func (s *Storage) deletePrefix(ctx context.Context, prefix string) error {
	pattern := escapeGlob(s.prefix+prefix) + "*"
	nodes, multiKey, err := s.nodes(ctx)
	if err != nil {
		return s.scanErr(ctx, "delete prefix", prefix, err)
	}
	for _, node := range nodes {
		err := scanNode(ctx, node, pattern, func(keys []string) error {
			if keys = s.entries(keys, prefix); len(keys) == 0 {
				return nil
			}
			return unlink(ctx, node, keys, multiKey)
		})
		if err != nil {
			return s.scanErr(ctx, "delete prefix", prefix, err)
		}
	}
	return nil
}

// nodes returns the clients whose keyspaces together make the Storage's:
// every master of a Cluster, every live shard of a Ring, or the client
// itself. multiKey reports whether a command on one of them may carry keys
// of different hash slots.
func (s *Storage) nodes(ctx context.Context) (nodes []goredis.Cmdable, multiKey bool, err error) {
	var mu sync.Mutex // guards nodes; the ForEach functions call in parallel
	collect := func(ctx context.Context, c *goredis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		nodes = append(nodes, c)
		return nil
	}
	switch c := s.client.(type) {
	case *goredis.ClusterClient:
		err = c.ForEachMaster(ctx, collect)
		return nodes, false, err
	case *goredis.Ring:
		err = c.ForEachShard(ctx, collect)
		return nodes, true, err
	default:
		return []goredis.Cmdable{s.client}, true, nil
	}
}

// escapeGlob escapes the characters that SCAN MATCH patterns give a
// meaning (* ? [ ] \), so that p matches only itself.
func escapeGlob(p string) string {
	if !strings.ContainsAny(p, `*?[]\`) {
		return p
	}
	var b strings.Builder
	b.Grow(len(p) + 8)
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
