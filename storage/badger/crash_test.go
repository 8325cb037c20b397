package badger

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/storage"
)

// The crash test runs its own test binary as a child that writes into a
// directory, kills it with SIGKILL at a random moment, reopens the
// directory, and checks what survived: every entry read must be exactly a
// value the child wrote, and every write the child had acknowledged must be
// there (without sync writes too: the operating system keeps the pages of a
// killed process). One of the child's goroutines writes through gecaso, and
// its acknowledged results must be hits after the crash.

const (
	crashDirEnv  = "GECASO_BADGER_CRASH_DIR"
	crashSyncEnv = "GECASO_BADGER_CRASH_SYNC"
	crashWorkers = 4
)

// crashValue is the only value the child ever writes under key, cut to n
// bytes: sha256(key) repeated.
func crashValue(key string, n int) []byte {
	sum := sha256.Sum256([]byte(key))
	return bytes.Repeat(sum[:], n/len(sum)+1)[:n]
}

// checkCrashValue reports whether v is a value the child may have written
// under key.
func checkCrashValue(key string, v []byte) bool {
	return len(v) > 0 && bytes.Equal(v, crashValue(key, len(v)))
}

func TestCrash(t *testing.T) {
	t.Parallel() // slow; overlaps its waits with other tests
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d", seed)
	ctx := context.Background()
	for round := range 5 {
		sync := round%2 == 1
		acked := runCrashChild(t, dir, round, sync, 1+rng.IntN(300))
		// The LOCK file stays behind; only the flock on it died with the
		// child, and that must be enough for Open.
		if _, err := os.Stat(filepath.Join(dir, "LOCK")); err != nil {
			t.Errorf("round %d: no LOCK file left by the killed child: %v", round, err)
		}

		s, err := Open(dir, WithGCInterval(-1))
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		// Every read below goes through a complete key filter: one built
		// from what Badger recovered must miss no acknowledged write.
		buildNow(t, s)
		n, bad := 0, 0
		err = s.Scan(ctx, "r", func(ki storage.KeyInfo) error {
			v, err := s.Get(ctx, ki.Key)
			if err != nil {
				return fmt.Errorf("Get(%s) of a scanned key: %w", ki.Key, err)
			}
			n++
			if !checkCrashValue(ki.Key, v) {
				bad++
				if bad <= 5 {
					t.Errorf("round %d: %s holds %d bytes that the child never wrote", round, ki.Key, len(v))
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		lost := 0
		for w, last := range acked {
			if w == coreWorker {
				continue
			}
			for i := 0; i <= last; i++ {
				k := crashKey(round, w, i)
				v, err := s.Get(ctx, k)
				if err != nil {
					lost++
					if lost <= 5 {
						t.Errorf("round %d: acknowledged write %s lost: %v", round, k, err)
					}
					continue
				}
				if !checkCrashValue(k, v) {
					t.Errorf("round %d: %s corrupt", round, k)
				}
			}
		}
		// Results memoized through gecaso: every acknowledged one must be a
		// hit with the right value.
		recomputed := 0
		coreAcked, ok := acked[coreWorker]
		if !ok {
			coreAcked = -1 // reported nothing
		}
		f := gecaso.Cached(s, func(ctx context.Context, a crashArg) ([]byte, error) {
			recomputed++
			return crashFn(ctx, a)
		}, gecaso.WithName("crash.fn"))
		for i := 0; i <= coreAcked; i++ {
			a := crashArg{Round: round, N: i}
			v, err := f.Call(ctx, a)
			want, _ := crashFn(ctx, a)
			if err != nil || !bytes.Equal(v, want) {
				t.Errorf("round %d: Call(%v) = %d bytes, %v; want the %d bytes fn returns", round, a, len(v), err, len(want))
			}
		}
		if recomputed > 0 {
			t.Errorf("round %d: %d of %d acknowledged results computed again after the crash", round, recomputed, coreAcked+1)
		}
		t.Logf("round %d (sync writes %v): %d entries read back, %d wrong, %d acknowledged lost, %d memoized results checked",
			round, sync, n, bad, lost, coreAcked+1)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// coreWorker numbers the child's goroutine that writes through gecaso.
const coreWorker = crashWorkers

type crashArg struct{ Round, N int }

// crashFn is the memoized function of the crash test.
func crashFn(_ context.Context, a crashArg) ([]byte, error) {
	return crashValue(fmt.Sprint(a), 1+a.N%5000), nil
}

func crashKey(round, worker, i int) string {
	return fmt.Sprintf("r%d/w%d/%06d", round, worker, i)
}

// runCrashChild starts the child on dir, kills it once it has reported
// progress lines times, and returns, per worker, the index of the last write
// the child acknowledged.
func runCrashChild(t *testing.T, dir string, round int, sync bool, lines int) map[int]int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashSyncEnv+"="+strconv.FormatBool(sync),
		"GECASO_BADGER_CRASH_ROUND="+strconv.Itoa(round))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[int]int{}
	sc := bufio.NewScanner(out)
	seen, killed := 0, false
	for sc.Scan() {
		var w, i int
		if _, err := fmt.Sscanf(sc.Text(), "acked %d %d", &w, &i); err != nil {
			if strings.HasPrefix(sc.Text(), "error") {
				t.Errorf("child: %s", sc.Text())
			}
			continue
		}
		acked[w] = max(acked[w], i)
		if seen++; seen == lines && !killed {
			// Lines read after this are acknowledgements too: the child
			// wrote them before it died.
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("round %d: child ended before being killed: %v", round, err)
	}
	return acked
}

// TestCrashChild is the child of TestCrash: it writes until it is killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("run by TestCrash")
	}
	round, _ := strconv.Atoi(os.Getenv("GECASO_BADGER_CRASH_ROUND"))
	sync, _ := strconv.ParseBool(os.Getenv(crashSyncEnv))
	s, err := Open(dir, WithSyncWrites(sync), WithGCInterval(-1))
	if err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(1)
	}
	lines := make(chan string)
	for w := range crashWorkers {
		go func() {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(round)))
			ctx := context.Background()
			for i := 0; ; i++ {
				k := crashKey(round, w, i)
				n := 1 + rng.IntN(4000)
				if rng.IntN(200) == 0 {
					n = 1<<20 + rng.IntN(2<<20) // into the value log
				}
				if err := s.Set(ctx, k, crashValue(k, n), storage.Params{}); err != nil {
					lines <- fmt.Sprintf("error %v", err)
					return
				}
				// Rewrite an earlier key with another length: a reader must
				// see one version whole, never a mix.
				if i > 0 && rng.IntN(4) == 0 {
					old := crashKey(round, w, rng.IntN(i))
					if err := s.Set(ctx, old, crashValue(old, 1+rng.IntN(4000)), storage.Params{}); err != nil {
						lines <- fmt.Sprintf("error %v", err)
						return
					}
				}
				if i%10 == 0 {
					lines <- fmt.Sprintf("acked %d %d", w, i)
				}
			}
		}()
	}
	go func() {
		// The same through gecaso: acknowledged once Call returns, which is
		// after its result was stored.
		ctx := context.Background()
		f := gecaso.Cached(s, crashFn, gecaso.WithName("crash.fn"), gecaso.WithErrorHandler(func(err error) {
			lines <- fmt.Sprintf("error %v", err)
		}))
		for i := 0; ; i++ {
			if _, err := f.Call(ctx, crashArg{Round: round, N: i}); err != nil {
				lines <- fmt.Sprintf("error %v", err)
				return
			}
			if i%10 == 0 {
				lines <- fmt.Sprintf("acked %d %d", coreWorker, i)
			}
		}
	}()
	for l := range lines {
		// One writer of stdout; each line is written whole.
		fmt.Println(l)
	}
}
