package redis

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gecaso/gecaso/internal/keyfmt"
	"github.com/gecaso/gecaso/storage"
)

// lockPrefix is put between the storage prefix and the key to name a lock:
// in the reserved space, so that Scan, DeletePrefix and the lru above
// never see a lock.
const lockPrefix = ReservedPrefix + "lock:"

// unlockScript deletes the lock only if it still holds the caller's token,
// so that a holder whose lock expired cannot release its successor's.
var unlockScript = goredis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0
`)

// TryLock tries to take the lock named key for at most ttl, with
// SET <prefix>@gecaso:lock:<key> <token> NX PX <ttl> and a random token. When
// acquired is true the caller holds the lock until it calls unlock or ttl
// passes (ttl is rounded up to a whole millisecond); unlock deletes the lock
// only while it still holds the caller's token (a Lua compare-and-delete),
// so a late unlock never releases another holder's lock. When acquired is
// false another holder has it.
//
// If the SET NX reply is lost (a timeout after the server applied it, or a
// retry by the client that then found the key taken), TryLock reads the lock
// back and reports it acquired when it holds the caller's token.
//
// A ttl <= 0 is refused with an error: it would make a lock that never
// expires. Lock keys live under [ReservedPrefix], apart from entries: no
// Scan reports them and no DeletePrefix removes them, so a Purge never
// frees a lock another process holds. In a Cluster a lock key hashes to its
// own slot, independent of its entry's. After Close TryLock and unlock
// return [storage.ErrClosed].
func (s *Storage) TryLock(ctx context.Context, key string, ttl time.Duration) (unlock func(context.Context) error, acquired bool, err error) {
	if s.closed.Load() {
		return nil, false, storage.ErrClosed
	}
	if ttl <= 0 {
		return nil, false, fmt.Errorf("gecaso/redis: lock %s: ttl %v is not positive", keyfmt.Quote(key), ttl)
	}
	lockKey := s.prefix + lockPrefix + key
	token := rand.Text()
	ok, setErr := s.client.SetNX(ctx, lockKey, token, roundUpMs(ttl)).Result()
	if setErr != nil || !ok {
		if setErr == nil || ctx.Err() == nil {
			// Taken, or the reply was lost: the taken lock may be ours,
			// set by an attempt whose reply never arrived.
			v, err := s.client.Get(ctx, lockKey).Result()
			ok = err == nil && v == token
		}
		if !ok {
			if setErr != nil {
				return nil, false, wrap(ctx, setErr, "lock %s", keyfmt.Quote(key))
			}
			return nil, false, nil
		}
	}
	unlock = func(ctx context.Context) error {
		if s.closed.Load() {
			return storage.ErrClosed
		}
		err := unlockScript.Run(ctx, s.client, []string{lockKey}, token).Err()
		if err != nil {
			return wrap(ctx, err, "unlock %s", keyfmt.Quote(key))
		}
		return nil
	}
	return unlock, true, nil
}
