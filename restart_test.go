package gecaso_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/codec"
	"github.com/gecaso/gecaso/storage/badger"
)

// The restart test runs its own test binary twice over one Badger
// directory: the first process stores a result and exits; in the second the
// function fails, and the stale result the first process stored answers
// until its stale-if-error window has passed.

const (
	restartDirEnv  = "GECASO_RESTART_DIR"
	restartStepEnv = "GECASO_RESTART_STEP"
	restartTTL     = 100 * time.Millisecond
	restartWindow  = 5 * time.Second
)

var errUpstreamDown = errors.New("upstream down")

func TestStaleIfErrorChild(t *testing.T) {
	dir, step := os.Getenv(restartDirEnv), os.Getenv(restartStepEnv)
	if dir == "" {
		t.Skip("runs as a child of TestStaleIfError_acrossRestart")
	}
	s, err := badger.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := gecaso.Cached(s, func(context.Context, int) (string, error) {
		if step == "store" {
			return "computed before the restart", nil
		}
		return "", errUpstreamDown
	}, gecaso.WithName("restart"), gecaso.WithTTL(restartTTL), gecaso.WithStaleIfError(restartWindow))
	ctx := context.Background()
	if step == "store" {
		v, err := f.Call(ctx, 1)
		fmt.Printf("STORED %s %v\n", v, err)
		return
	}
	// The process may have started so late that the window has passed:
	// then there is nothing to check.
	key, _ := f.Key(1)
	b, err := s.Get(ctx, key)
	if err != nil {
		fmt.Printf("LATE %v\n", err)
		return
	}
	var env codec.Envelope
	if err := codec.DecodeEnvelope(b, &env); err != nil {
		t.Fatal(err)
	}
	if time.Now().After(env.ExpiresAt.Add(restartWindow / 2)) {
		fmt.Printf("LATE started %v after the expiry\n", time.Since(env.ExpiresAt))
		return
	}
	// Until the TTL has passed the entry is fresh; then stale until the
	// window has passed; then fn's error.
	deadline := time.Now().Add(4 * restartWindow)
	sawStale := false
	for time.Now().Before(deadline) {
		v, info, err := f.CallInfo(ctx, 1)
		switch {
		case err != nil:
			fmt.Printf("ERROR %v\n", err)
			return
		case info.Stale && !sawStale:
			sawStale = true
			fmt.Printf("STALE %s %v\n", v, info.Err)
		}
	}
	t.Fatal("no error after the stale window")
}

func TestStaleIfError_acrossRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	var lines []string
	for _, step := range []string{"store", "fail"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestStaleIfErrorChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), restartDirEnv+"="+dir, restartStepEnv+"="+step)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child %s: %v\n%s", step, err, out)
		}
		for line := range strings.Lines(string(out)) {
			if strings.HasPrefix(line, "LATE ") {
				t.Skipf("the second process started too late to check the stale window: %s", line)
			}
			for _, p := range []string{"STORED ", "STALE ", "ERROR "} {
				if strings.HasPrefix(line, p) {
					lines = append(lines, strings.TrimSpace(line))
				}
			}
		}
	}
	want := []string{
		"STORED computed before the restart <nil>",
		"STALE computed before the restart upstream down",
		"ERROR upstream down",
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("children said (-want +got):\n%s", diff)
	}
}
