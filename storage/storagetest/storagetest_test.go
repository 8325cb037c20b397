package storagetest_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/storagetest"
	"github.com/google/go-cmp/cmp"
)

// mapStorage is the simplest correct storage with every optional
// interface. Its faults, when set, break one rule each, so that the tests
// below can show that the suite notices.
type mapStorage struct {
	fault string

	mu     sync.Mutex // guards m, locks, subs and closed
	m      map[string]entry
	locks  map[string]lock
	subs   map[*mapSub]struct{}
	closed bool
}

type lock struct {
	token int
	exp   time.Time
}

type entry struct {
	v   []byte
	exp time.Time
	seq uint64
}

var seq struct {
	sync.Mutex
	n uint64
}

func newMap(fault string) *mapStorage {
	return &mapStorage{fault: fault, m: map[string]entry{}, locks: map[string]lock{}, subs: map[*mapSub]struct{}{}}
}

var (
	_ storage.Storage       = (*mapStorage)(nil)
	_ storage.Scanner       = (*mapStorage)(nil)
	_ storage.PrefixDeleter = (*mapStorage)(nil)
	_ storage.Viewer        = (*mapStorage)(nil)
	_ storage.Locker        = (*mapStorage)(nil)
	_ storage.Invalidator   = (*mapStorage)(nil)
	_ io.Closer             = (*mapStorage)(nil)
)

// liveLocked returns the live entry for key.
func (s *mapStorage) liveLocked(key string) (entry, bool) {
	e, ok := s.m[key]
	if !ok || !e.exp.IsZero() && !time.Now().Before(e.exp) && s.fault != "ignores-ttl" {
		return entry{}, false
	}
	return e, true
}

func (s *mapStorage) Get(ctx context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed && s.fault != "usable-after-close" {
		return nil, storage.ErrClosed
	}
	e, ok := s.liveLocked(key)
	if !ok {
		if s.fault == "wrapped-miss" {
			return nil, errors.Join(storage.ErrNotFound)
		}
		return nil, storage.ErrNotFound
	}
	if s.fault == "lends-on-get" {
		return e.v, nil
	}
	return bytes.Clone(e.v), nil
}

func (s *mapStorage) Set(ctx context.Context, key string, v []byte, p storage.Params) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed && s.fault != "usable-after-close" {
		return storage.ErrClosed
	}
	if s.fault == "truncates-keys" && len(key) > 250 {
		key = key[:250]
	}
	e := entry{v: bytes.Clone(v)}
	if s.fault == "keeps-slice" {
		e.v = v
	}
	if p.TTL > 0 {
		e.exp = time.Now().Add(p.TTL)
	}
	seq.Lock()
	seq.n++
	e.seq = seq.n
	seq.Unlock()
	s.m[key] = e
	return nil
}

func (s *mapStorage) Remove(ctx context.Context, keys ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed && s.fault != "usable-after-close" {
		return storage.ErrClosed
	}
	if len(keys) == 0 && s.fault == "remove-needs-keys" {
		return errors.New("mapstorage: remove: no keys") // as Redis DEL does
	}
	for _, k := range keys {
		delete(s.m, k)
	}
	if s.fault != "invalidation-lost" {
		s.publishLocked(storage.Invalidation{Keys: slices.Clone(keys)})
	}
	return nil
}

func (s *mapStorage) Scan(ctx context.Context, prefix string, fn func(storage.KeyInfo) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed && s.fault != "usable-after-close" {
		s.mu.Unlock()
		return storage.ErrClosed
	}
	var infos []storage.KeyInfo
	for k := range s.m {
		e, ok := s.liveLocked(k)
		if ok && (strings.HasPrefix(k, prefix) || s.fault == "scan-ignores-prefix") {
			infos = append(infos, storage.KeyInfo{Key: k, Size: int64(len(e.v)), ExpiresAt: e.exp, Seq: e.seq})
		}
	}
	s.mu.Unlock()
	for _, ki := range infos {
		if err := fn(ki); err != nil {
			return err
		}
	}
	return nil
}

func (s *mapStorage) DeletePrefix(ctx context.Context, prefix string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed && s.fault != "usable-after-close" {
		return storage.ErrClosed
	}
	for k := range s.m {
		if strings.HasPrefix(k, prefix) {
			delete(s.m, k)
		}
	}
	s.publishLocked(storage.Invalidation{Prefixes: []string{prefix}})
	return nil
}

func (s *mapStorage) View(ctx context.Context, key string, fn func([]byte) error) error {
	s.mu.Lock()
	if s.closed && s.fault != "usable-after-close" {
		s.mu.Unlock()
		return storage.ErrClosed
	}
	e, ok := s.liveLocked(key)
	s.mu.Unlock()
	if !ok {
		return storage.ErrNotFound
	}
	return fn(e.v)
}

func (s *mapStorage) Close() error {
	s.mu.Lock()
	s.closed = true
	subs := s.subs
	s.subs = map[*mapSub]struct{}{}
	s.mu.Unlock()
	for sub := range subs {
		sub.stop()
	}
	return nil
}

var lockTokens struct {
	sync.Mutex
	n int
}

// TryLock keeps locks apart from entries, unless the fault says otherwise.
func (s *mapStorage) TryLock(ctx context.Context, key string, ttl time.Duration) (func(context.Context) error, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed && s.fault != "usable-after-close" {
		return nil, false, storage.ErrClosed
	}
	if s.fault == "lock-is-entry" {
		if _, ok := s.liveLocked("lock:" + key); ok {
			return nil, false, nil
		}
		s.m["lock:"+key] = entry{v: []byte("locked"), exp: time.Now().Add(ttl)}
		return func(context.Context) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			delete(s.m, "lock:"+key)
			return nil
		}, true, nil
	}
	if l, ok := s.locks[key]; ok && time.Now().Before(l.exp) {
		return nil, false, nil
	}
	lockTokens.Lock()
	lockTokens.n++
	token := lockTokens.n
	lockTokens.Unlock()
	s.locks[key] = lock{token: token, exp: time.Now().Add(ttl)}
	return func(context.Context) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.locks[key].token == token {
			delete(s.locks, key)
		}
		return nil
	}, true, nil
}

// mapSub is one subscription: a queue read by a goroutine of its own.
type mapSub struct {
	fn    func(storage.Invalidation)
	queue chan storage.Invalidation
	quit  chan struct{}
	done  chan struct{}
	once  sync.Once
}

func (sub *mapSub) run() {
	defer close(sub.done)
	for {
		select {
		case inv := <-sub.queue:
			sub.fn(inv)
		case <-sub.quit:
			return
		}
	}
}

func (sub *mapSub) stop() {
	sub.once.Do(func() { close(sub.quit) })
	<-sub.done
}

func (s *mapStorage) publishLocked(inv storage.Invalidation) {
	for sub := range s.subs {
		sub.queue <- inv
	}
}

func (s *mapStorage) Subscribe(fn func(storage.Invalidation)) (func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed && s.fault != "usable-after-close" {
		return nil, storage.ErrClosed
	}
	sub := &mapSub{fn: fn, queue: make(chan storage.Invalidation, 1024), quit: make(chan struct{}), done: make(chan struct{})}
	s.subs[sub] = struct{}{}
	go sub.run()
	return func() {
		if s.fault == "calls-after-cancel" {
			return
		}
		s.mu.Lock()
		delete(s.subs, sub)
		s.mu.Unlock()
		sub.stop()
	}, nil
}

func TestRunCorrect(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Storage { return newMap("") })
}

// faultEnv names the fault TestFaultyChild injects; the child runs only
// when TestRunNoticesFaults sets it.
const faultEnv = "GECASO_STORAGETEST_FAULT"

// TestFaultyChild runs the suite against a storage with the fault named in
// $GECASO_STORAGETEST_FAULT, in a child process started by
// TestRunNoticesFaults, so that the failures it must report do not fail
// this test binary.
func TestFaultyChild(t *testing.T) {
	fault := os.Getenv(faultEnv)
	if fault == "" {
		t.Skip("run by TestRunNoticesFaults")
	}
	storagetest.Run(t, func(t *testing.T) storage.Storage { return newMap(fault) })
}

// TestRunNoticesFaults shows that the suite can fail: each fault makes
// exactly the checks that cover it fail.
func TestRunNoticesFaults(t *testing.T) {
	tests := []struct {
		give string
		want []string // the subtests that must fail, and no others
	}{
		{give: "wrapped-miss", want: []string{"get-absent"}},
		{give: "keeps-slice", want: []string{"ownership"}},
		{give: "lends-on-get", want: []string{"ownership"}},
		{give: "remove-needs-keys", want: []string{"remove-absent"}},
		{give: "truncates-keys", want: []string{"keys"}},
		{give: "scan-ignores-prefix", want: []string{"scanner"}},
		{give: "usable-after-close", want: []string{"close-concurrent", "closer"}},
		{give: "lock-is-entry", want: []string{"locker"}},
		{give: "invalidation-lost", want: []string{"invalidator"}},
		{give: "calls-after-cancel", want: []string{"invalidator"}},
		{give: "ignores-ttl", want: []string{"ttl"}}, // waits out the 5 s slack
	}
	failLine := regexp.MustCompile(`(?m)^\s*--- FAIL: TestFaultyChild/(\S+)`)
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestFaultyChild$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), faultEnv+"="+tt.give)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a storage with the fault %q:\n%s", tt.give, out)
			}
			var got []string
			for _, m := range failLine.FindAllStringSubmatch(string(out), -1) {
				got = append(got, m[1])
			}
			slices.Sort(got)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("failed checks for the fault %q (-want +got):\n%s\n%s", tt.give, diff, out)
			}
		})
	}
}
