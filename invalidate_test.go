package gecaso_test

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/lru"
)

// broadcaster is a shared storage that tells its subscribers of removals,
// as storage/redis does across processes.
type broadcaster struct {
	*lru.Storage

	mu      sync.Mutex // guards subs, cancels and next
	subs    map[int]chan storage.Invalidation
	cancels map[int]func()
	next    int
}

func newBroadcaster() *broadcaster {
	return &broadcaster{Storage: lru.New(nil, 1000), subs: map[int]chan storage.Invalidation{}, cancels: map[int]func(){}}
}

// Close ends every subscription.
func (b *broadcaster) Close() error {
	b.mu.Lock()
	var cancels []func()
	for _, c := range b.cancels {
		cancels = append(cancels, c)
	}
	b.mu.Unlock()
	for _, c := range cancels {
		c()
	}
	return nil
}

func (b *broadcaster) publish(m storage.Invalidation) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ch := range b.subs {
		ch <- m
	}
}

func (b *broadcaster) Remove(ctx context.Context, keys ...string) error {
	err := b.Storage.Remove(ctx, keys...)
	b.publish(storage.Invalidation{Keys: keys})
	return err
}

func (b *broadcaster) DeletePrefix(ctx context.Context, prefix string) error {
	err := b.Storage.DeletePrefix(ctx, prefix)
	b.publish(storage.Invalidation{Prefixes: []string{prefix}})
	return err
}

func (b *broadcaster) Subscribe(fn func(storage.Invalidation)) (func(), error) {
	ch := make(chan storage.Invalidation, 64)
	done := make(chan struct{})
	b.mu.Lock()
	id := b.next
	b.next++
	b.subs[id] = ch
	b.mu.Unlock()
	go func() {
		defer close(done)
		for m := range ch {
			fn(m)
		}
	}()
	var once sync.Once
	cancel := func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, id)
			delete(b.cancels, id)
			b.mu.Unlock()
			close(ch)
			<-done
		})
	}
	b.mu.Lock()
	b.cancels[id] = cancel
	b.mu.Unlock()
	return cancel, nil
}

func (b *broadcaster) subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

var _ storage.Invalidator = (*broadcaster)(nil)

// Removals made by another Func (another process, over Redis) reach this
// Func's near cache.
func TestNearCache_invalidatedByOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newBroadcaster()
		defer s.Close()
		var src source
		src.n.Store(1)
		opts := []gecaso.Option{gecaso.WithName("q"), gecaso.WithNearCache(10, time.Hour)}
		a := gecaso.Cached(s, src.call, opts...)
		b := gecaso.Cached(s, src.call, opts...)
		ctx := context.Background()
		a.Call(ctx, 1)
		a.Call(ctx, 2)
		if v, info, _ := b.CallInfo(ctx, 1); v != 1 || info.Source != gecaso.SourceStorage {
			t.Fatalf("b's first call = %d from %v, want 1 from the storage", v, info.Source)
		}
		b.Call(ctx, 2)
		src.n.Store(2)

		if err := a.Forget(ctx, 1); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the invalidation reached b
		if v, _ := b.Call(ctx, 1); v != 2 {
			t.Errorf("after a's Forget, b returned %d from its near cache, want 2", v)
		}
		if v, info, _ := b.CallInfo(ctx, 2); v != 1 || info.Source != gecaso.SourceNear {
			t.Errorf("b's copy of another key = %d from %v, want 1 kept in the near cache", v, info.Source)
		}

		src.n.Store(3)
		if err := a.Purge(ctx); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if v, _ := b.Call(ctx, 2); v != 3 {
			t.Errorf("after a's Purge, b returned %d, want 3", v)
		}
	})
}

// An invalidation that may have lost messages (the empty prefix) clears the
// near cache.
func TestNearCache_clearedWhenMessagesMayBeLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newBroadcaster()
		defer s.Close()
		var src source
		f := gecaso.Cached(s, src.call, gecaso.WithNearCache(10, time.Hour))
		ctx := context.Background()
		f.Call(ctx, 1)
		s.publish(storage.Invalidation{Prefixes: []string{""}})
		synctest.Wait()
		if _, info, _ := f.CallInfo(ctx, 1); info.Source != gecaso.SourceStorage {
			t.Errorf("after a resync the call came from %v, want the storage", info.Source)
		}
	})
}

// The subscription does not keep a Func alive.
func TestNearCache_subscriptionEndsWithTheFunc(t *testing.T) {
	s := newBroadcaster()
	func() {
		f := gecaso.Cached(s, func(context.Context, int) (int, error) { return 1, nil }, gecaso.WithNearCache(10, time.Hour))
		f.Call(context.Background(), 1)
	}()
	if s.subscribers() != 1 {
		t.Fatalf("%d subscribers, want the Func's one", s.subscribers())
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.subscribers() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the subscription outlived its Func")
		}
		runtime.GC()
		runtime.Gosched()
	}
}

func TestNearCache_otherNamespacesIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newBroadcaster()
		defer s.Close()
		var src source
		f := gecaso.Cached(s, src.call, gecaso.WithName("mine"), gecaso.WithNearCache(10, time.Hour))
		ctx := context.Background()
		f.Call(ctx, 1)
		s.publish(storage.Invalidation{Keys: []string{"other:abc"}, Prefixes: []string{"other:"}})
		synctest.Wait()
		if _, info, _ := f.CallInfo(ctx, 1); info.Source != gecaso.SourceNear {
			t.Errorf("an invalidation of another namespace cleared the near cache")
		}
		if !strings.HasPrefix(f.Namespace(), "mine") {
			t.Fatal(f.Namespace())
		}
	})
}
