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
//   - One value per call: every caller gets a value of its own, decoded from
//     the bytes the result was stored as, so the call that ran fn returns
//     exactly what later hits return (a struct held in an any comes back as
//     a map on the first call too). The near cache ([WithNearCache]) is the
//     exception: its hits share one value.
//   - A caller whose context ends gets ctx.Err() at once, whatever the
//     storage is doing; the execution goes on for the others and its result
//     is stored.
//   - Invalidation sticks: once [Func.Forget] or [Func.Purge] returns, no call
//     that starts afterwards in this process returns a value read or computed
//     before it (not from the near cache, not from a run that was under way),
//     and on a storage that broadcasts removals ([storage.Invalidator]:
//     Redis) the near caches of other processes drop their copies within the
//     storage's documented delay.
//   - Errors from fn reach every waiting caller and are not stored, unless
//     [WithErrorTTL] says so. A panic in fn reaches every waiting caller as a
//     panic with a *[PanicError].
//   - The cache fails open: when the storage fails, calls still return fn's
//     result, and the failure is counted ([Func.Stats]) and reported
//     ([WithErrorHandler], or [WithLogger] without flooding it).
//   - An entry that does not decode (corrupt, truncated, foreign, or not a V)
//     is a miss: fn runs and the entry is overwritten.
//   - An expired entry is never returned, whatever the storage: the expiry is
//     recorded in every entry and checked on every read. The stale windows
//     the caller asks for are the only exception.
//   - A call that starts after another call for the same argument has
//     returned is a hit, unless the storage failed.
//
// # Freshness
//
// An entry is fresh until its TTL ([WithTTL], [WithTTLJitter], or [SetTTL]
// from inside fn). Past it, [WithStaleWhileRevalidate] serves it at once while
// one background refresh runs (one per fleet with [WithLock]), and
// [WithStaleIfError] serves it when fn fails, across restarts and processes.
// [WithErrorTTL] stores chosen errors for a while. [Func.CallInfo] tells a
// caller what it got.
//
//	written        TTL                  TTL + stale-while-revalidate
//	   |------fresh------|------stale: served, refreshed------|
//	   |------fresh------|---------stale: served only if fn fails---------|
//	                                                TTL + stale-if-error
//
// # Observability
//
// [Func.Stats] counts hits, misses, shared runs, the time spent in fn,
// storage failures and bytes moved; [WithObserver] hands every call and the
// steps of every miss to a metrics and tracing integration (package
// otelgecaso, for OpenTelemetry).
//
// # Storages
//
// Any [storage.Storage] works: storage/memory, storage/lru (an LRU bound over
// any storage), storage/badger (on disk), storage/redis (shared),
// storage/tiered (a small fast storage in front of a large shared one), or
// your own, which needs three methods (see package storage).
package gecaso
