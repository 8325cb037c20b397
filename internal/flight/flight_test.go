package flight

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/google/go-cmp/cmp"
)

func TestDo_sharesOneRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group[string]
		var runs atomic.Int32
		release := make(chan struct{})
		fn := func(context.Context) (string, error) {
			runs.Add(1)
			<-release
			return "v", nil
		}
		var wg sync.WaitGroup
		shared := make([]bool, 5)
		for i := range shared {
			wg.Go(func() {
				v, sh, _, err := g.Do(context.Background(), "k", fn)
				if v != "v" || err != nil {
					t.Errorf("Do = %q, %v", v, err)
				}
				shared[i] = sh
			})
			synctest.Wait() // callers join in order
		}
		close(release)
		wg.Wait()
		if diff := cmp.Diff([]bool{false, true, true, true, true}, shared); diff != "" {
			t.Errorf("shared (-want +got):\n%s", diff)
		}
		if runs.Load() != 1 {
			t.Errorf("ran %d times, want 1", runs.Load())
		}
		if g.InFlight() != 0 {
			t.Errorf("%d keys left in flight", g.InFlight())
		}
	})
}

func TestDo_keysAreIndependent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group[int]
		block := make(chan struct{})
		go g.Do(context.Background(), "slow", func(context.Context) (int, error) { <-block; return 1, nil })
		synctest.Wait()
		v, _, _, err := g.Do(context.Background(), "fast", func(context.Context) (int, error) { return 2, nil })
		if v != 2 || err != nil {
			t.Errorf("Do(fast) = %d, %v while another key is blocked", v, err)
		}
		close(block)
	})
}

func TestDo_waiterLeavesOnItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group[int]
		release := make(chan struct{})
		finished := make(chan struct{})
		fn := func(ctx context.Context) (int, error) {
			<-release
			defer close(finished)
			return 1, ctx.Err() // the run's context is not the caller's
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, _, _, err := g.Do(ctx, "k", fn)
			done <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Do = %v, want context.Canceled", err)
		}
		other := make(chan int, 1)
		go func() {
			v, _, _, _ := g.Do(context.Background(), "k", fn)
			other <- v
		}()
		synctest.Wait()
		close(release)
		<-finished
		if v := <-other; v != 1 {
			t.Errorf("the other caller got %d, want 1 from the uncancelled run", v)
		}
	})
}

func TestDo_panicReachesEveryWaiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group[int]
		release := make(chan struct{})
		fn := func(context.Context) (int, error) {
			<-release
			panic(errors.New("broken"))
		}
		got := make(chan *Panic, 3)
		for range 3 {
			go func() {
				_, _, pan, _ := g.Do(context.Background(), "k", fn)
				got <- pan
			}()
		}
		synctest.Wait()
		close(release)
		for range 3 {
			pan := <-got
			if pan == nil {
				t.Fatal("a waiter did not get the panic")
			}
			if err, _ := pan.Value.(error); err == nil || err.Error() != "broken" || len(pan.Stack) == 0 {
				t.Errorf("Panic = %v", pan)
			}
		}
		if g.InFlight() != 0 {
			t.Errorf("the panicked key stayed in flight")
		}
	})
}

func TestDo_goexit(t *testing.T) {
	var g Group[int]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, _, _, err := g.Do(ctx, "k", func(context.Context) (int, error) {
		runtime.Goexit()
		return 0, nil
	})
	if !errors.Is(err, ErrGoexit) {
		t.Errorf("Do = %v, want ErrGoexit", err)
	}
}

// With a context that cannot end, the caller that starts the run runs fn
// itself: a Goexit in fn ends that caller's goroutine, and the callers that
// joined get ErrGoexit.
func TestDo_goexitInline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group[int]
		release := make(chan struct{})
		returned := make(chan bool, 1)
		go func() {
			ok := false
			defer func() { returned <- ok }()
			g.Do(context.Background(), "k", func(context.Context) (int, error) {
				<-release
				runtime.Goexit()
				return 0, nil
			})
			ok = true
		}()
		synctest.Wait()
		joined := make(chan error, 1)
		go func() {
			_, shared, _, err := g.Do(context.Background(), "k", nil)
			if !shared {
				err = errors.New("did not join the run")
			}
			joined <- err
		}()
		synctest.Wait()
		close(release)
		if <-returned {
			t.Error("Do returned to the caller whose fn called Goexit")
		}
		if err := <-joined; !errors.Is(err, ErrGoexit) {
			t.Errorf("joined caller's Do = %v, want ErrGoexit", err)
		}
		if g.InFlight() != 0 {
			t.Errorf("the key stayed in flight")
		}
	})
}

// A caller that got its result and calls again starts a new run: the key
// left the group before the waiters woke.
func TestDo_noReuseAfterReturn(t *testing.T) {
	var g Group[int]
	n := 0
	fn := func(context.Context) (int, error) { n++; return n, nil }
	for want := 1; want <= 3; want++ {
		if v, _, _, _ := g.Do(context.Background(), "k", fn); v != want {
			t.Fatalf("Do = %d, want %d", v, want)
		}
	}
}

// A caller that comes after Forget starts a new run; the callers that had
// joined the detached run get its result.
func TestForget_detachesTheRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group[int]
		release := make(chan struct{})
		var runs atomic.Int32
		fn := func(context.Context) (int, error) {
			n := int(runs.Add(1))
			if n == 1 {
				<-release
			}
			return n, nil
		}
		old := make(chan int, 2)
		for range 2 {
			go func() {
				v, _, _, _ := g.Do(context.Background(), "k", fn)
				old <- v
			}()
			synctest.Wait()
		}
		g.Forget("k")
		v, shared, _, _ := g.Do(context.Background(), "k", fn)
		if v != 2 || shared {
			t.Errorf("after Forget, Do = %d (shared %v), want a new run's 2", v, shared)
		}
		close(release)
		for range 2 {
			if v := <-old; v != 1 {
				t.Errorf("a caller of the detached run got %d, want 1", v)
			}
		}
		if g.InFlight() != 0 {
			t.Errorf("%d keys left in flight", g.InFlight())
		}
	})
}

// The detached run, when it ends, must not remove the run that replaced it.
func TestForget_detachedRunLeavesTheNewOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group[int]
		first, second := make(chan struct{}), make(chan struct{})
		go g.Do(context.Background(), "k", func(context.Context) (int, error) { <-first; return 1, nil })
		synctest.Wait()
		g.ForgetAll()
		go g.Do(context.Background(), "k", func(context.Context) (int, error) { <-second; return 2, nil })
		synctest.Wait()
		close(first)
		synctest.Wait()
		got := make(chan int, 1)
		go func() {
			v, _, _, _ := g.Do(context.Background(), "k", func(context.Context) (int, error) { return 3, nil })
			got <- v
		}()
		synctest.Wait()
		close(second)
		if v := <-got; v != 2 {
			t.Errorf("a caller got %d, want 2 from the running replacement", v)
		}
	})
}

func TestGo_startsOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group[int]
		release := make(chan struct{})
		fn := func(context.Context) (int, error) { <-release; return 7, nil }
		if !g.Go(context.Background(), "k", fn) {
			t.Fatal("Go did not start a run for an idle key")
		}
		if g.Go(context.Background(), "k", fn) {
			t.Fatal("Go started a second run while one was running")
		}
		got := make(chan int, 1)
		go func() {
			v, shared, _, _ := g.Do(context.Background(), "k", fn)
			if !shared {
				t.Error("Do did not join the run Go started")
			}
			got <- v
		}()
		synctest.Wait()
		close(release)
		if v := <-got; v != 7 {
			t.Errorf("Do = %d, want 7", v)
		}
		synctest.Wait()
		if g.InFlight() != 0 {
			t.Errorf("%d keys left in flight", g.InFlight())
		}
	})
}

func TestGo_panicWithoutWaitersIsDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group[int]
		g.Go(context.Background(), "k", func(context.Context) (int, error) { panic("no one listens") })
		synctest.Wait()
		if g.InFlight() != 0 {
			t.Errorf("the panicked key stayed in flight")
		}
	})
}

// BenchmarkGrowStack starts goroutines that call 24 KiB deep, as a run
// through fn and a storage's write does, with and without GrowStack.
func BenchmarkGrowStack(b *testing.B) {
	for _, grow := range []bool{false, true} {
		b.Run(fmt.Sprintf("grow=%v", grow), func(b *testing.B) {
			done := make(chan int)
			for b.Loop() {
				go func() {
					if grow {
						GrowStack()
					}
					done <- deep(48)
				}()
				<-done
			}
		})
	}
}

// deep calls itself n times, with about 500 bytes of frame each.
//
//go:noinline
func deep(n int) int {
	var pad [64]int
	pad[n%64] = n
	if n == 0 {
		return pad[0]
	}
	return deep(n-1) + pad[n%64]
}
