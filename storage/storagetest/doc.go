// Package storagetest is the conformance suite for [storage.Storage]
// implementations. Every backend of gecaso runs it from its own tests, and
// so can the author of any other storage:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Storage {
//			return memory.New()
//		})
//	}
//
// A backend with coarse expiry, a size limit, or a network in between says
// so with options:
//
//	storagetest.Run(t, func(t *testing.T) storage.Storage {
//		s, err := badger.Open(t.TempDir())
//		if err != nil {
//			t.Fatal(err)
//		}
//		return s // Run closes it
//	}, storagetest.WithTTLGranularity(time.Second))
//
// [Run] gives every check a fresh, empty storage from the factory, as a
// subtest named after the check (get-absent, set-get, overwrite, remove,
// remove-absent, remove-many, ttl, empty-value, large-value, keys,
// ownership, cancelled-context, params-extra, concurrent, scanner,
// prefix-deleter, viewer, locker, invalidator, nonblocking, closer,
// close-concurrent), and closes it afterwards when it is an io.Closer. It
// checks that:
//
//   - Get of an absent key returns the bare [storage.ErrNotFound]; Set,
//     Get, overwrite and Remove behave as a map does; Remove of absent
//     keys, of no keys and of many keys at once is not an error.
//   - An entry set with a TTL expires: the suite polls Get in real time
//     (a 200 ms TTL, or the granularity given with [WithTTLGranularity] if
//     longer) until it returns ErrNotFound, and fails if that happens
//     before the TTL or more than 5 s after it. An entry with TTL 0 or a
//     long TTL stays, and an overwrite replaces the expiry.
//   - Values of 0 bytes (nil or empty, read back with length 0) and up to
//     8 MiB ([WithMaxValueSize]) round-trip; keys of any bytes (NUL,
//     invalid UTF-8, white space, ':', '*', '?', '[', '%', 1 KiB long) are
//     kept apart.
//   - Get returns a slice the caller owns and Set keeps no reference to
//     its argument.
//   - With an already cancelled context, Get, Set and Remove return at
//     once, either an error matching context.Canceled or the right result
//     ([WithContextErrors] requires the error). The memory and lru
//     storages complete the call; Badger and Redis return the error.
//   - Set accepts any [storage.Params.Extra] without panicking or
//     modifying it.
//   - Under concurrent Get, Set, Remove, View and Scan on overlapping keys
//     (run it with -race), every value read is one written whole for that
//     key.
//   - The optional interfaces the storage implements behave as documented
//     in package storage: [storage.Scanner] reports exactly the live keys
//     with a prefix (glob characters in a prefix are literal), returns
//     fn's error, stops on a cancelled context, and fills KeyInfo
//     plausibly (Size near the value length, ExpiresAt zero without TTL,
//     Seq increasing in write order, each when non-zero);
//     [storage.PrefixDeleter] removes exactly the prefix's keys;
//     [storage.Viewer] lends the bytes Get returns, ErrNotFound without
//     calling fn on a miss, and returns fn's error; [storage.Locker]
//     excludes a second holder and expires, and a held lock is no entry
//     (a Scan of the empty prefix does not report it, a DeletePrefix of
//     the empty prefix does not free it); [storage.Invalidator] tells
//     every subscriber of a Remove (its keys) and a DeletePrefix (its
//     prefix) made through the storage, within 10 s (an invalidation of a
//     covering prefix, such as the empty one after lost messages, counts),
//     and no longer calls a subscriber once its cancel has returned, cancel
//     being idempotent; [storage.Nonblocking] can be called; io.Closer can
//     be called twice, and afterwards every method returns
//     [storage.ErrClosed] (Subscribe included, and the cancel of a
//     subscription made before Close returns), also when Close races other
//     calls.
//
// An optional method that returns [storage.ErrNotSupported] (a wrapper
// whose inner storage lacks the ability) skips its check.
//
// A full Run against the memory storage takes about a second. The checks
// use real time, never a fake clock, so they hold for backends whose clock
// is elsewhere (a Redis server).
package storagetest
