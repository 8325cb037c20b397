package badger

import (
	"context"
	"errors"
	"testing"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/storage"
)

func TestNonblocking(t *testing.T) {
	tests := []struct {
		name string
		open func(testing.TB, ...Option) *Storage
		opts []Option
		want bool
	}{
		{"default", openT, nil, true},
		{"WithNonblocking(true)", openT, []Option{WithNonblocking(true)}, true},
		{"WithNonblocking(false)", openT, []Option{WithNonblocking(false)}, false},
		{"in memory", openMemT, nil, true},
		{"in memory, WithNonblocking(false)", openMemT, []Option{WithNonblocking(false)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.open(t, tt.opts...)
			if got := s.Nonblocking(); got != tt.want {
				t.Errorf("Nonblocking() = %v, want %v", got, tt.want)
			}
		})
	}
}

// stalledReads is a Storage whose reads wait until release is closed; it
// tells entered when one starts. Its Nonblocking is the Storage's.
type stalledReads struct {
	*Storage
	entered chan struct{}
	release chan struct{}
}

func (s stalledReads) View(ctx context.Context, key string, fn func([]byte) error) error {
	s.entered <- struct{}{}
	<-s.release
	return s.Storage.View(ctx, key, fn)
}

func (s stalledReads) Get(ctx context.Context, key string) ([]byte, error) {
	s.entered <- struct{}{}
	<-s.release
	return s.Storage.Get(ctx, key)
}

var _ storage.Nonblocking = stalledReads{}

// TestWithNonblockingFalseLeavesStalledReads checks what WithNonblocking(false)
// is for: a caller whose context ends while a read stalls gets ctx.Err()
// while the read is still stalled.
func TestWithNonblockingFalseLeavesStalledReads(t *testing.T) {
	s := stalledReads{Storage: openT(t, WithNonblocking(false)), entered: make(chan struct{}, 1), release: make(chan struct{})}
	defer close(s.release)
	f := gecaso.Cached(s, func(context.Context, int) (int, error) { return 1, nil })
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := f.Call(ctx, 1)
		errc <- err
	}()
	<-s.entered
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Call returned %v while the read stalled, want context.Canceled", err)
	}
}
