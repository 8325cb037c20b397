package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gecaso/gecaso/internal/keyfmt"
	"github.com/gecaso/gecaso/storage"
)

// A Storage has one pub/sub connection for all its subscribers: the hub
// below runs it while it has subscribers and fans each message out to them,
// each through a queue of its own read by a goroutine of its own, so that a
// slow subscriber delays nobody else.
//
// On a Cluster the connection uses sharded pub/sub (SSUBSCRIBE, and
// SPUBLISH to publish), not a subscription on every master. A plain
// PUBLISH in a Cluster is broadcast over the cluster bus to every node,
// whatever the subscribers, so its cost grows with the cluster; a sharded
// channel lives on the shard that owns its hash slot, which alone carries
// its messages. A Storage has one channel, so one shard carries all of its
// invalidations and each process needs one connection, where a
// subscription per master would need one per master and still have every
// message cross the bus. When that shard's master fails or the slot moves,
// the connection drops or the server ends the subscription; the Storage
// reconnects to the slot's owner and delivers an invalidation of
// everything, as after any reconnect. Sharded pub/sub needs Redis 7.0.

const (
	// pingInterval is how long a connection may stay silent before the
	// Storage pings it; one unanswered ping later it is given up. Short
	// enough to notice a network that drops packets silently within
	// seconds, long enough that a process stalled for a moment (a busy
	// machine, a long GC) is not taken for a dead connection, which would
	// cost every subscriber an invalidation of everything.
	pingInterval = 2 * time.Second
	// confirmTimeout bounds the wait for the server to confirm a
	// subscription.
	confirmTimeout = 3 * time.Second
	// minBackoff and maxBackoff bound the pause between two attempts to
	// subscribe.
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
	// maxQueue is how many invalidations a subscriber may fall behind by;
	// beyond it its queue collapses into one invalidation of everything.
	maxQueue = 4096
)

// InvalidationStats counts what a Storage's invalidations did since New.
type InvalidationStats struct {
	// Published counts the messages Remove and DeletePrefix published.
	Published uint64
	// Received counts the messages the subscription received and handed
	// to the subscribers.
	Received uint64
	// Malformed counts the messages received that did not decode, and
	// were dropped.
	Malformed uint64
	// Reconnects counts the times the subscription was live again after
	// its connection failed; each time every subscriber was handed an
	// invalidation of everything.
	Reconnects uint64
	// Overflows counts the times a subscriber fell maxQueue (4096)
	// messages behind and was handed an invalidation of everything
	// instead.
	Overflows uint64
}

type invalidationCounters struct {
	published, received, malformed, reconnects, overflows atomic.Uint64
}

// InvalidationStats returns the counters of invalidations since New. It is
// safe to call at any time, also after Close.
func (s *Storage) InvalidationStats() InvalidationStats {
	c := &s.stats
	return InvalidationStats{
		Published:  c.published.Load(),
		Received:   c.received.Load(),
		Malformed:  c.malformed.Load(),
		Reconnects: c.reconnects.Load(),
		Overflows:  c.overflows.Load(),
	}
}

// Subscribe calls fn with every invalidation published on the Storage's
// channel by any process using the same server and [WithPrefix] prefix,
// this one included, from the moment Subscribe returns until cancel is
// called. Keys and prefixes are relative to the storage prefix, as given to
// Remove and DeletePrefix. fn is called on one goroutine per subscription,
// in the order the messages arrived; the Invalidation's slices are shared
// with the other subscribers and must not be modified. fn should return
// soon: a subscriber 4096 messages behind gets one invalidation of
// everything in place of the messages it missed.
//
// The first Subscribe opens the Storage's pub/sub connection and waits for
// the server to confirm the subscription, one round trip; later ones join
// it. When the server cannot be reached, Subscribe does not wait for it to
// come back: it returns once the attempt fails (at once when the
// connection is refused, within the client's dial timeout, or after 3 s
// without an answer), and fn is handed an invalidation of everything
// ([storage.Invalidation] with the empty prefix) once the subscription is
// live, as after every reconnect (see the package documentation).
//
// cancel stops the calls of fn: it waits for a running call to return, and
// no call starts after it returns. It is idempotent and must not be called
// from fn. The last cancel closes the connection. Subscribe returns
// [storage.ErrClosed] after Close, and an error when the server refuses
// the subscription (an ACL without pub/sub, or a Cluster older than Redis
// 7.0, which lacks sharded pub/sub).
func (s *Storage) Subscribe(fn func(storage.Invalidation)) (cancel func(), err error) {
	if fn == nil {
		return nil, errors.New("gecaso/redis: subscribe: nil function")
	}
	if s.closed.Load() {
		return nil, storage.ErrClosed
	}
	return s.hub.subscribe(fn)
}

// hub runs the Storage's subscription and fans its messages out.
type hub struct {
	s *Storage // set by New

	mu     sync.Mutex // guards the fields below, and every subscription's pending
	subs   map[*subscription]struct{}
	rcv    *receiver // the connection of subs; nil when there are none
	live   bool      // rcv's connection is subscribed
	closed bool
}

func (h *hub) subscribe(fn func(storage.Invalidation)) (func(), error) {
	sub := &subscription{s: h.s, fn: fn, wake: make(chan struct{}, 1), done: make(chan struct{})}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, storage.ErrClosed
	}
	r := h.rcv
	if r == nil {
		r = newReceiver()
		h.rcv, h.live = r, false
		go h.run(r)
	}
	if h.subs == nil {
		h.subs = make(map[*subscription]struct{})
	}
	h.subs[sub] = struct{}{}
	h.mu.Unlock()
	go sub.run()

	<-r.first
	if r.firstErr != nil { // fail removed sub from subs
		sub.stop()
		return nil, fmt.Errorf("gecaso/redis: subscribe to %s: %w", keyfmt.Quote(h.s.channel), r.firstErr)
	}
	h.mu.Lock()
	if h.closed { // close removed sub from subs
		h.mu.Unlock()
		sub.stop()
		return nil, storage.ErrClosed
	}
	// Messages published from now on may be lost until the connection is
	// subscribed: sub then gets an invalidation of everything.
	sub.pending = !h.live
	h.mu.Unlock()
	return func() { h.cancel(sub) }, nil
}

func (h *hub) cancel(sub *subscription) {
	sub.cancelOnce.Do(func() {
		var r *receiver
		h.mu.Lock()
		if _, ok := h.subs[sub]; ok {
			delete(h.subs, sub)
			if len(h.subs) == 0 {
				r, h.rcv, h.live = h.rcv, nil, false
			}
		}
		h.mu.Unlock()
		sub.stop()
		if r != nil {
			r.stop()
		}
	})
}

// close ends every subscription and the connection, for good.
func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	subs, r := h.subs, h.rcv
	h.subs, h.rcv, h.live = nil, nil, false
	h.mu.Unlock()
	for sub := range subs {
		sub.stop()
	}
	if r != nil {
		r.stop()
	}
}

// markLive records that r's connection is subscribed, and hands an
// invalidation of everything to the subscribers that may have missed
// messages.
func (h *hub) markLive(r *receiver) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.rcv != r {
		return
	}
	h.live = true
	for sub := range h.subs {
		if sub.pending {
			sub.pending = false
			sub.push(dropAll)
		}
	}
}

// markLost records that r's connection failed: every subscriber may miss
// messages until it is live again.
func (h *hub) markLost(r *receiver) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.rcv != r || !h.live {
		return
	}
	h.live = false
	for sub := range h.subs {
		sub.pending = true
	}
}

// fail ends r, whose first attempt found that the server refuses the
// subscription: the subscribers waiting for it fail with err.
func (h *hub) fail(r *receiver, err error) {
	h.mu.Lock()
	if h.rcv == r {
		// Every subscriber is one of r's, still waiting in subscribe.
		h.rcv, h.subs, h.live = nil, nil, false
	}
	r.firstErr = err
	h.mu.Unlock()
	r.concludeFirst()
}

// deliver hands inv, received by r, to every subscriber.
func (h *hub) deliver(r *receiver, inv storage.Invalidation) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.rcv != r {
		return
	}
	for sub := range h.subs {
		sub.push(inv)
	}
}

// receive decodes a message and delivers it.
func (h *hub) receive(r *receiver, payload string) {
	inv, err := decodeMessage(payload)
	switch {
	case errors.Is(err, errNewerFormat):
		inv = dropAll // what it removed is unknown
	case err != nil:
		if h.s.stats.malformed.Add(1) == 1 {
			h.s.onError(fmt.Errorf("gecaso/redis: invalidations on %s: dropped a message of %d bytes: %w (later ones are only counted, in InvalidationStats)",
				keyfmt.Quote(h.s.channel), len(payload), err))
		}
		return
	}
	h.s.stats.received.Add(1)
	h.deliver(r, inv)
}

// receiver is one run of the subscription loop, from the first subscriber
// to the last cancel (or Close).
type receiver struct {
	ctx      context.Context // cancelled by stop: cuts a dial short
	cancel   context.CancelFunc
	stopOnce sync.Once
	done     chan struct{} // closed when run returns

	first     chan struct{} // closed when the first attempt to subscribe has an outcome
	firstOnce sync.Once
	firstErr  error // why the server refuses the subscription; written before first is closed

	everLive bool // only run's goroutine uses it

	mu sync.Mutex      // guards ps
	ps *goredis.PubSub // the connection in use, closed by stop
}

func newReceiver() *receiver {
	ctx, cancel := context.WithCancel(context.Background())
	return &receiver{ctx: ctx, cancel: cancel, done: make(chan struct{}), first: make(chan struct{})}
}

func (r *receiver) stopped() bool { return r.ctx.Err() != nil }

func (r *receiver) concludeFirst() { r.firstOnce.Do(func() { close(r.first) }) }

// use records ps as the connection in use, so that stop can close it. It
// reports false when stop came first.
func (r *receiver) use(ps *goredis.PubSub) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped() {
		return false
	}
	r.ps = ps
	return true
}

// stop ends the loop and waits for it to return.
func (r *receiver) stop() {
	r.stopOnce.Do(func() {
		r.mu.Lock()
		r.cancel()
		ps := r.ps
		r.mu.Unlock()
		if ps != nil {
			_ = ps.Close() // cuts the Receive short
		}
	})
	<-r.done
}

// run subscribes, receives, and subscribes again after every failure,
// until r is stopped.
func (h *hub) run(r *receiver) {
	defer close(r.done)
	defer r.concludeFirst()
	backoff := minBackoff
	reported := false // the current outage was reported
	attempted := false
	timer := time.NewTimer(0)
	<-timer.C
	for {
		ps, err := h.s.newPubSub(r.ctx)
		live := false
		if err == nil {
			if !r.use(ps) {
				_ = ps.Close()
				return
			}
			live, err = h.session(r, ps)
			_ = ps.Close()
		}
		if r.stopped() {
			return
		}
		if !attempted && !live && refused(err) {
			h.fail(r, err)
			return
		}
		attempted = true
		r.concludeFirst()
		h.markLost(r)
		if live {
			backoff, reported = minBackoff, false
		}
		if !reported {
			reported = true
			h.s.onError(fmt.Errorf("gecaso/redis: invalidations on %s: subscription lost, reconnecting: %w", keyfmt.Quote(h.s.channel), err))
		}
		timer.Reset(backoff)
		select {
		case <-timer.C:
		case <-r.ctx.Done():
			timer.Stop()
			return
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// session receives on ps until its connection fails or r is stopped, and
// reports whether it was subscribed at some point.
func (h *hub) session(r *receiver, ps *goredis.PubSub) (live bool, err error) {
	pinged := false
	for {
		timeout := pingInterval
		if !live {
			timeout = confirmTimeout
		}
		msg, err := ps.ReceiveTimeout(r.ctx, timeout)
		if err != nil {
			switch {
			case r.stopped() || !isTimeout(err):
				return live, err
			case !live:
				return false, fmt.Errorf("no confirmation of the subscription within %v", confirmTimeout)
			case pinged:
				return true, fmt.Errorf("no answer to a ping within %v", pingInterval)
			}
			if err := ps.Ping(r.ctx); err != nil {
				return true, err
			}
			pinged = true
			continue
		}
		pinged = false
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Channel != h.s.channel {
				continue
			}
			switch m.Kind {
			case "subscribe", "ssubscribe":
				if !live {
					live = true
					if r.everLive {
						h.s.stats.reconnects.Add(1)
					}
					r.everLive = true
					h.markLive(r)
					r.concludeFirst()
				}
			case "unsubscribe", "sunsubscribe":
				// A Cluster slot moved: the server dropped us.
				return live, errors.New("the server ended the subscription")
			}
		case *goredis.Message:
			h.receive(r, m.Payload)
		}
	}
}

// newPubSub opens a connection subscribed to the Storage's channel; errors
// of the connection show in its first Receive.
func (s *Storage) newPubSub(ctx context.Context) (ps *goredis.PubSub, err error) {
	switch c := s.client.(type) {
	case *goredis.ClusterClient:
		return c.SSubscribe(ctx, s.channel), nil
	case *goredis.Ring:
		defer func() {
			// Ring.Subscribe panics when no shard is live.
			if v := recover(); v != nil {
				ps, err = nil, fmt.Errorf("ring: %v", v)
			}
		}()
		return c.Subscribe(ctx, s.channel), nil
	default:
		return s.client.Subscribe(ctx, s.channel), nil
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// refused reports whether err is the server refusing the subscription for
// good, rather than a failure that retrying may cure.
func refused(err error) bool {
	var re goredis.Error
	if !errors.As(err, &re) {
		return false
	}
	msg := err.Error()
	return strings.HasPrefix(msg, "ERR unknown command") || strings.HasPrefix(msg, "NOPERM")
}

// subscription is one subscriber: its queue and the goroutine that calls
// its function.
type subscription struct {
	s          *Storage
	fn         func(storage.Invalidation)
	wake       chan struct{} // capacity 1: the queue or stopped changed
	done       chan struct{} // closed when run returns
	cancelOnce sync.Once

	pending bool // guarded by hub.mu: owed an invalidation of everything once live

	mu      sync.Mutex // guards queue and stopped
	queue   []storage.Invalidation
	stopped bool
}

// push queues inv; a full queue collapses into an invalidation of
// everything, which covers what it held.
func (sub *subscription) push(inv storage.Invalidation) {
	sub.mu.Lock()
	if sub.stopped {
		sub.mu.Unlock()
		return
	}
	if len(sub.queue) >= maxQueue {
		clear(sub.queue)
		sub.queue = append(sub.queue[:0], dropAll)
		sub.s.stats.overflows.Add(1)
	} else {
		sub.queue = append(sub.queue, inv)
	}
	sub.mu.Unlock()
	select {
	case sub.wake <- struct{}{}:
	default:
	}
}

func (sub *subscription) run() {
	defer close(sub.done)
	for {
		sub.mu.Lock()
		if sub.stopped {
			sub.mu.Unlock()
			return
		}
		if len(sub.queue) == 0 {
			sub.mu.Unlock()
			<-sub.wake
			continue
		}
		inv := sub.queue[0]
		sub.queue[0] = storage.Invalidation{}
		if sub.queue = sub.queue[1:]; len(sub.queue) == 0 {
			sub.queue = nil
		}
		sub.mu.Unlock()
		sub.call(inv)
	}
}

// call runs fn, reporting a panic rather than letting it end the process
// from a goroutine nobody can recover in.
func (sub *subscription) call(inv storage.Invalidation) {
	defer func() {
		if v := recover(); v != nil {
			sub.s.onError(fmt.Errorf("gecaso/redis: a subscriber's function panicked: %v\n%s", v, debug.Stack()))
		}
	}()
	sub.fn(inv)
}

// stop ends the calls of fn and waits for a running one to return. It is
// idempotent.
func (sub *subscription) stop() {
	sub.mu.Lock()
	sub.stopped = true
	sub.queue = nil
	sub.mu.Unlock()
	select {
	case sub.wake <- struct{}{}:
	default:
	}
	<-sub.done
}
