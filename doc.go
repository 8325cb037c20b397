// Package gecaso memoizes Go functions in an interchangeable storage: in
// memory, bounded by an LRU layer, persisted on disk with Badger so that
// results survive restarts, or shared across machines on Redis.
//
// Wrap a function with [Cached] and call it through [Func.Call]:
//
//	square := gecaso.Cached(memory.New(), func(ctx context.Context, n int) (int, error) {
//		time.Sleep(time.Second) // something slow or costly
//		return n * n, nil
//	}, gecaso.WithTTL(time.Hour))
//
//	v, err := square.Call(ctx, 12) // runs the function: one second
//	v, err = square.Call(ctx, 12)  // answered from the storage
//
// The method value square.Call is a plain func(context.Context, int) (int,
// error), the Go analogue of a decorator. Functions of several arguments take
// a struct as their argument.
//
// # Keys
//
// A result is stored under namespace + ":" + digest. The namespace is the
// function's name ([WithName]; by default its qualified Go name) plus its
// version ([WithVersion]). The digest is the SHA-256 of the argument's
// canonical encoding ([codec.Marshal]): map keys sorted whatever their type,
// pointers followed, no addresses and no iteration order, so the same
// argument gives the same key in every process, on every machine, after every
// restart. [WithHashKey](false) puts a readable rendering of the argument in
// the key instead.
//
// # Semantics
//
//   - No dog-pile: concurrent calls with equal arguments share one execution
//     of fn. Across processes, [WithLock] does the same through a storage
//     that can lock (Redis).
//   - A caller whose context ends gets ctx.Err() at once; the execution goes
//     on for the others and its result is stored.
//   - Errors from fn reach every waiting caller and are not stored. A panic in
//     fn reaches every waiting caller as a panic with a *[PanicError].
//   - The cache fails open: when the storage fails, calls still return fn's
//     result, and the failure is reported ([WithErrorHandler], [WithLogger]).
//   - An entry that does not decode (corrupt, truncated, foreign, or not a V)
//     is a miss: fn runs and the entry is overwritten.
//   - An expired entry is never returned, whatever the storage: the expiry is
//     recorded in every entry and checked on every read.
//   - A call that starts after another call for the same argument has
//     returned is a hit, unless the storage failed.
//
// # Storages
//
// Any [storage.Storage] works: storage/memory, storage/lru (an LRU bound over
// any storage), storage/badger (on disk), storage/redis (shared),
// storage/tiered (a small fast storage in front of a large shared one), or
// your own, which needs three methods (see package storage).
package gecaso
