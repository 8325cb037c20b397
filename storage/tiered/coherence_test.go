package tiered_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gecaso/gecaso/codec"
	"github.com/gecaso/gecaso/internal/faulty"
	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/memory"
	"github.com/gecaso/gecaso/storage/tiered"
)

// parkAfter is a storage whose Get (op "get") or Set (op "set") of key,
// once done, waits until the test releases it, so that a test can hold a
// tiered Get between reading L2 and filling L1, or in the middle of the
// fill.
type parkAfter struct {
	storage.Storage
	op, key  string
	reached  chan struct{} // closed when the call of key is done and parked
	released chan struct{} // closed by release to let it return
	once     sync.Once
	relOnce  sync.Once
}

// newParkAfter returns a parkAfter over inner, released at the latest when
// the test ends.
func newParkAfter(t *testing.T, inner storage.Storage, op, key string) *parkAfter {
	p := &parkAfter{Storage: inner, op: op, key: key, reached: make(chan struct{}), released: make(chan struct{})}
	t.Cleanup(p.release)
	return p
}

func (p *parkAfter) release() { p.relOnce.Do(func() { close(p.released) }) }

func (p *parkAfter) park(op, key string) {
	if op != p.op || key != p.key {
		return
	}
	first := false
	p.once.Do(func() { first = true })
	if first {
		close(p.reached)
		<-p.released
	}
}

func (p *parkAfter) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := p.Storage.Get(ctx, key)
	p.park("get", key)
	return v, err
}

func (p *parkAfter) DeletePrefix(ctx context.Context, prefix string) error {
	return p.Storage.(storage.PrefixDeleter).DeletePrefix(ctx, prefix)
}

func (p *parkAfter) Set(ctx context.Context, key string, v []byte, prm storage.Params) error {
	err := p.Storage.Set(ctx, key, v, prm)
	p.park("set", key)
	return err
}

// getAsync starts s.Get(key) and returns a channel of its result.
func getAsync(s *tiered.Storage, key string) <-chan []byte {
	ch := make(chan []byte, 1)
	go func() {
		v, _ := s.Get(context.Background(), key)
		ch <- v
	}()
	return ch
}

// TestRemoveAfterL2ReadLeavesNoCopy: a Get reads L2, a Remove takes both
// tiers, then the Get fills L1. The next Get must miss, not be served the
// removed value from L1.
func TestRemoveAfterL2ReadLeavesNoCopy(t *testing.T) {
	tests := []struct {
		name   string
		remove func(ctx context.Context, s *tiered.Storage) error
		want   []byte // what a Get afterwards returns; nil: a miss
	}{
		{name: "Remove", remove: func(ctx context.Context, s *tiered.Storage) error { return s.Remove(ctx, "k") }},
		{name: "Remove of many keys", remove: func(ctx context.Context, s *tiered.Storage) error {
			keys := []string{"k"}
			for i := range 100 {
				keys = append(keys, strings.Repeat("x", i))
			}
			return s.Remove(ctx, keys...)
		}},
		{name: "DeletePrefix", remove: func(ctx context.Context, s *tiered.Storage) error { return s.DeletePrefix(ctx, "") }},
		{name: "Set", remove: func(ctx context.Context, s *tiered.Storage) error {
			return s.Set(ctx, "k", []byte("new"), storage.Params{})
		}, want: []byte("new")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			l1, inner := memory.New(), memory.New()
			defer l1.Close()
			defer inner.Close()
			old := envelope(t, time.Time{})
			if err := inner.Set(ctx, "k", old, storage.Params{}); err != nil {
				t.Fatal(err)
			}
			l2 := newParkAfter(t, inner, "get", "k")
			s := tiered.New(l1, l2)

			got := getAsync(s, "k")
			<-l2.reached // the Get has read the old value from L2
			if err := tt.remove(ctx, s); err != nil {
				t.Fatal(err)
			}
			l2.release() // and now tries to fill L1
			if v := <-got; !slices.Equal(v, old) {
				t.Fatalf("the Get that started first returned %q, want the old value", v)
			}
			v, err := s.Get(ctx, "k")
			if tt.want == nil && err != storage.ErrNotFound {
				t.Fatalf("Get after %s: %q, %v; want storage.ErrNotFound, not a copy filled after the removal", tt.name, v, err)
			}
			if tt.want != nil && !slices.Equal(v, tt.want) {
				t.Fatalf("Get after %s: %q, %v; want %q", tt.name, v, err, tt.want)
			}
		})
	}
}

// TestRemoveWaitsForAFillInProgress: a Get is writing its L1 copy when a
// Remove starts: the Remove waits for the write and then removes the copy.
func TestRemoveWaitsForAFillInProgress(t *testing.T) {
	ctx := context.Background()
	inner, l2 := memory.New(), memory.New()
	defer inner.Close()
	defer l2.Close()
	if err := l2.Set(ctx, "k", envelope(t, time.Time{}), storage.Params{}); err != nil {
		t.Fatal(err)
	}
	l1 := newParkAfter(t, inner, "set", "k")
	s := tiered.New(l1, l2)

	got := getAsync(s, "k")
	<-l1.reached // the copy is in L1, the fill not yet ended
	removed := make(chan error, 1)
	go func() { removed <- s.Remove(ctx, "k") }()
	select {
	case err := <-removed:
		t.Fatalf("Remove returned (%v) while a fill of its key was being written", err)
	default:
	}
	l1.release()
	<-got
	if err := <-removed; err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get(ctx, "k"); err != storage.ErrNotFound {
		t.Fatalf("Get after Remove: %q, %v; want storage.ErrNotFound", v, err)
	}
}

// broadcaster is an L2 that tells its subscribers, synchronously, what the
// test says was removed elsewhere.
type broadcaster struct {
	*faulty.Storage
	mu   sync.Mutex // guards fns
	fns  map[int]func(storage.Invalidation)
	next int
}

func newBroadcaster() *broadcaster { return &broadcaster{Storage: faulty.New(nil)} }

func (b *broadcaster) Subscribe(fn func(storage.Invalidation)) (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fns == nil {
		b.fns = map[int]func(storage.Invalidation){}
	}
	id := b.next
	b.next++
	b.fns[id] = fn
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.fns, id)
	}, nil
}

func (b *broadcaster) subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.fns)
}

// publish removes from L2 what another process removed, and tells.
func (b *broadcaster) publish(t *testing.T, inv storage.Invalidation) {
	t.Helper()
	b.mu.Lock()
	fns := slices.Collect(func(yield func(func(storage.Invalidation)) bool) {
		for _, fn := range b.fns {
			if !yield(fn) {
				return
			}
		}
	})
	b.mu.Unlock()
	for _, fn := range fns {
		fn(inv)
	}
}

// l1Keys returns the keys L1 (a memory storage) holds, sorted.
func l1Keys(t *testing.T, l1 *memory.Storage) []string {
	t.Helper()
	var keys []string
	if err := l1.Scan(context.Background(), "", func(ki storage.KeyInfo) error {
		keys = append(keys, ki.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}

func TestInvalidationsDropL1Copies(t *testing.T) {
	tests := []struct {
		name string
		give storage.Invalidation
		want []string // the L1 keys left of a:1, a:2, b:1
	}{
		{name: "keys", give: storage.Invalidation{Keys: []string{"a:1", "b:1", "absent"}}, want: []string{"a:2"}},
		{name: "prefix", give: storage.Invalidation{Prefixes: []string{"a:"}}, want: []string{"b:1"}},
		{name: "everything", give: storage.Invalidation{Prefixes: []string{""}}, want: nil},
		{name: "both", give: storage.Invalidation{Keys: []string{"b:1"}, Prefixes: []string{"a:2"}}, want: []string{"a:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			l1, l2 := memory.New(), newBroadcaster()
			defer l1.Close()
			s := tiered.New(l1, l2)
			defer s.Close()
			for _, k := range []string{"a:1", "a:2", "b:1"} {
				if err := s.Set(ctx, k, []byte("v"), storage.Params{}); err != nil {
					t.Fatal(err)
				}
			}
			l2.publish(t, tt.give)
			if diff := cmp.Diff(tt.want, l1Keys(t, l1)); diff != "" {
				t.Errorf("L1 keys after %+v (-want +got):\n%s", tt.give, diff)
			}
		})
	}
}

// keysOnly is an L1 that can neither delete nor scan by prefix.
type keysOnly struct{ *faulty.Storage }

// scanOnly is an L1 that can scan but not delete by prefix.
type scanOnly struct{ m *memory.Storage }

func (s scanOnly) Get(ctx context.Context, k string) ([]byte, error) { return s.m.Get(ctx, k) }
func (s scanOnly) Set(ctx context.Context, k string, v []byte, p storage.Params) error {
	return s.m.Set(ctx, k, v, p)
}
func (s scanOnly) Remove(ctx context.Context, keys ...string) error { return s.m.Remove(ctx, keys...) }
func (s scanOnly) Scan(ctx context.Context, p string, fn func(storage.KeyInfo) error) error {
	return s.m.Scan(ctx, p, fn)
}

func TestPrefixInvalidationOfAnL1WithoutPrefixDelete(t *testing.T) {
	ctx := context.Background()
	t.Run("scanned", func(t *testing.T) {
		m := memory.New()
		defer m.Close()
		l2 := newBroadcaster()
		s := tiered.New(scanOnly{m}, l2)
		defer s.Close()
		for _, k := range []string{"a:1", "b:1"} {
			if err := s.Set(ctx, k, []byte("v"), storage.Params{}); err != nil {
				t.Fatal(err)
			}
		}
		l2.publish(t, storage.Invalidation{Prefixes: []string{"a:"}})
		if diff := cmp.Diff([]string{"b:1"}, l1Keys(t, m)); diff != "" {
			t.Errorf("L1 keys after a prefix invalidation (-want +got):\n%s", diff)
		}
	})
	t.Run("reported once", func(t *testing.T) {
		var reported []error
		l2 := newBroadcaster()
		s := tiered.New(keysOnly{faulty.New(nil)}, l2, tiered.WithErrorHandler(func(err error) { reported = append(reported, err) }))
		defer s.Close()
		for range 3 {
			l2.publish(t, storage.Invalidation{Prefixes: []string{""}})
		}
		if len(reported) != 1 || !strings.Contains(reported[0].Error(), "L1 TTL") {
			t.Errorf("reported %v, want one error saying copies last up to the L1 TTL", reported)
		}
	})
}

// TestSubscribeForwardsAfterDroppingL1 checks that a subscriber through
// tiered hears an invalidation only once L1 no longer holds what it names.
func TestSubscribeForwardsAfterDroppingL1(t *testing.T) {
	ctx := context.Background()
	l1, l2 := memory.New(), newBroadcaster()
	defer l1.Close()
	s := tiered.New(l1, l2)
	if err := s.Set(ctx, "k", []byte("v"), storage.Params{}); err != nil {
		t.Fatal(err)
	}
	var inL1 []string
	var heard []storage.Invalidation
	cancel, err := s.Subscribe(func(inv storage.Invalidation) {
		heard = append(heard, inv)
		inL1 = l1Keys(t, l1)
	})
	if err != nil {
		t.Fatal(err)
	}
	inv := storage.Invalidation{Keys: []string{"k"}}
	l2.publish(t, inv)
	if diff := cmp.Diff([]storage.Invalidation{inv}, heard); diff != "" {
		t.Errorf("heard (-want +got):\n%s", diff)
	}
	if len(inL1) != 0 {
		t.Errorf("the subscriber ran while L1 still held %q", inL1)
	}
	cancel()
	cancel()
	if n := l2.subscribers(); n != 1 {
		t.Errorf("L2 has %d subscribers after cancel, want 1 (tiered's own)", n)
	}

	// Close ends tiered's own subscription and those made through it.
	if _, err := s.Subscribe(func(storage.Invalidation) {}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := l2.subscribers(); n != 0 {
		t.Errorf("L2 has %d subscribers after Close, want 0", n)
	}
	if _, err := s.Subscribe(func(storage.Invalidation) {}); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Subscribe after Close: %v, want storage.ErrClosed", err)
	}
}

func TestSubscribeWithoutInvalidatorL2(t *testing.T) {
	s := tiered.New(faulty.New(nil), faulty.New(nil))
	defer s.Close()
	if _, err := s.Subscribe(func(storage.Invalidation) {}); !errors.Is(err, storage.ErrNotSupported) {
		t.Errorf("Subscribe over an L2 that cannot: %v, want storage.ErrNotSupported", err)
	}
}

// refusing is an L2 whose Subscribe fails.
type refusing struct{ *faulty.Storage }

var errRefused = errors.New("refused")

func (refusing) Subscribe(func(storage.Invalidation)) (func(), error) { return nil, errRefused }

func TestSubscribeFailureIsReported(t *testing.T) {
	var reported error
	s := tiered.New(faulty.New(nil), refusing{faulty.New(nil)}, tiered.WithErrorHandler(func(err error) { reported = err }))
	defer s.Close()
	if !errors.Is(reported, errRefused) {
		t.Errorf("reported %v, want L2's Subscribe error", reported)
	}
}

// blocking is a storage that says whether it blocks.
type blocking struct {
	*faulty.Storage
	nonblocking bool
}

func (b blocking) Nonblocking() bool { return b.nonblocking }

func TestNonblocking(t *testing.T) {
	tests := []struct {
		name   string
		l1, l2 storage.Storage
		want   bool
	}{
		{name: "both nonblocking", l1: blocking{faulty.New(nil), true}, l2: blocking{faulty.New(nil), true}, want: true},
		// Reads of an L2 that may block run on a goroutine the caller
		// leaves when its context ends.
		{name: "L2 blocks", l1: blocking{faulty.New(nil), true}, l2: blocking{faulty.New(nil), false}, want: true},
		{name: "L2 cannot tell", l1: blocking{faulty.New(nil), true}, l2: faulty.New(nil), want: true},
		{name: "L1 blocks", l1: blocking{faulty.New(nil), false}, l2: blocking{faulty.New(nil), true}, want: false},
		{name: "L1 cannot tell", l1: faulty.New(nil), l2: blocking{faulty.New(nil), true}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tiered.New(tt.l1, tt.l2).Nonblocking(); got != tt.want {
				t.Errorf("Nonblocking = %v, want %v", got, tt.want)
			}
		})
	}
}

// A caller whose context ends leaves an L2 read that does not honour
// cancellation; the read finishes in the background and still fills L1.
func TestGet_leavesStalledL2AtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l1 := blocking{faulty.New(nil), true}
		l2 := faulty.New(nil)
		v, err := codec.Pack("v", nil)
		if err != nil {
			t.Fatal(err)
		}
		l2.Put("k", v)
		s := tiered.New(l1, l2)
		defer s.Close()
		stalled, release := l2.Stall(faulty.Get)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := s.Get(ctx, "k")
			done <- err
		}()
		<-stalled
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Get = %v, want context.Canceled while L2 stalls", err)
		}
		release()
		synctest.Wait()
	})
}
