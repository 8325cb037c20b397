package fence

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

func TestBeginRefusesTokenTakenBeforeInvalidate(t *testing.T) {
	tab := New()
	tok := tab.Token("k")
	if err := tab.Invalidate(context.Background(), "k", func() {}); err != nil {
		t.Fatal(err)
	}
	if _, ok := tab.Begin("k", tok); ok {
		t.Fatal("Begin accepted a token taken before Invalidate")
	}
	w, ok := tab.Begin("k", tab.Token("k"))
	if !ok {
		t.Fatal("Begin refused a token taken after Invalidate")
	}
	if tab.End(w) {
		t.Fatal("End reported an invalidation that did not happen")
	}
}

func TestOtherStripesAreUntouched(t *testing.T) {
	tab := New()
	// Find a key of another stripe than "k".
	other := ""
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		if tab.stripe(k) != tab.stripe("k") {
			other = k
			break
		}
	}
	tok := tab.Token(other)
	if err := tab.Invalidate(context.Background(), "k", func() {}); err != nil {
		t.Fatal(err)
	}
	if _, ok := tab.Begin(other, tok); !ok {
		t.Fatal("invalidating k made a token of another stripe stale")
	}
}

func TestTokenTakenDuringInvalidateIsStale(t *testing.T) {
	tab := New()
	var during Token
	if err := tab.Invalidate(context.Background(), "k", func() {
		during = tab.Token("k")
		if _, ok := tab.Begin("k", during); ok {
			t.Error("Begin accepted a write while the removal ran")
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, ok := tab.Begin("k", during); ok {
		t.Fatal("Begin accepted a token taken while the removal ran")
	}
}

func TestInvalidateWaitsForWritesBegunBefore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tab := New()
		w, ok := tab.Begin("k", tab.Token("k"))
		if !ok {
			t.Fatal("Begin refused a fresh token")
		}
		removed := make(chan struct{})
		go func() {
			if err := tab.Invalidate(context.Background(), "k", func() { close(removed) }); err != nil {
				t.Error(err)
			}
		}()
		synctest.Wait()
		select {
		case <-removed:
			t.Fatal("the removal ran before the write that began earlier ended")
		default:
		}
		if !tab.End(w) {
			t.Error("End did not report the invalidation that started during the write")
		}
		synctest.Wait()
		select {
		case <-removed:
		default:
			t.Fatal("the removal did not run after the write ended")
		}
	})
}

func TestInvalidateStopsWaitingWhenCtxEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tab := New()
		w, _ := tab.Begin("k", tab.Token("k"))
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		var removed atomic.Bool
		go func() { errc <- tab.Invalidate(ctx, "k", func() { removed.Store(true) }) }()
		synctest.Wait()
		cancel()
		if err := <-errc; err != context.Canceled {
			t.Fatalf("Invalidate returned %v, want context.Canceled", err)
		}
		if !removed.Load() {
			t.Fatal("the removal did not run when the wait was cut short")
		}
		if !tab.End(w) {
			t.Fatal("End of a write outliving a cut-short invalidation did not report it")
		}
		// The stripe is usable again.
		w, ok := tab.Begin("k", tab.Token("k"))
		if !ok || tab.End(w) {
			t.Fatal("the stripe did not recover after the invalidation")
		}
	})
}

func TestInvalidateAll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tab := New()
		keys := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
		toks := make([]Token, len(keys))
		for i, k := range keys {
			toks[i] = tab.Token(k)
		}
		w, _ := tab.Begin("a", toks[0])
		done := make(chan struct{})
		go func() {
			if err := tab.InvalidateAll(context.Background(), func() {}); err != nil {
				t.Error(err)
			}
			close(done)
		}()
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("InvalidateAll returned before a write begun earlier ended")
		default:
		}
		tab.End(w)
		<-done
		for i, k := range keys {
			if _, ok := tab.Begin(k, toks[i]); ok {
				t.Fatalf("Begin(%q) accepted a token taken before InvalidateAll", k)
			}
		}
	})
}

// TestNoStaleCopySurvives runs fills and invalidations of one key against a
// model: a source with a version, and a copy that fills write. After every
// invalidation returns, the copy must be absent or at least as new as the
// version the invalidation published.
func TestNoStaleCopySurvives(t *testing.T) {
	tab := New()
	var (
		mu      sync.Mutex // guards source and copy
		source  int
		copyVer = -1
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				tok := tab.Token("k")
				mu.Lock()
				v := source
				mu.Unlock()
				w, ok := tab.Begin("k", tok)
				if !ok {
					continue
				}
				mu.Lock()
				copyVer = v
				mu.Unlock()
				tab.End(w)
			}
		})
	}
	for range 2000 {
		mu.Lock()
		source++
		want := source
		mu.Unlock()
		err := tab.Invalidate(context.Background(), "k", func() {
			mu.Lock()
			copyVer = -1
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		got := copyVer
		mu.Unlock()
		if got != -1 && got < want {
			t.Fatalf("after an invalidation at version %d the copy holds version %d", want, got)
		}
	}
	close(stop)
	wg.Wait()
}
