package gecaso_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/internal/faulty"
	"github.com/google/go-cmp/cmp"
)

// keyArgs are arguments whose keys must not depend on the process: maps of
// many key and value types, nested maps, pointers, slices, times.
type keyArgs struct {
	StringInt  map[string]int
	IntString  map[int]string
	Nested     map[string]map[string][]int
	StructKeys map[userKey]string
	Any        map[any]any
	Ptr        *userKey
	Times      []time.Time
	Floats     map[float64]bool
}

func makeKeyArgs() keyArgs {
	a := keyArgs{
		StringInt:  map[string]int{},
		IntString:  map[int]string{},
		Nested:     map[string]map[string][]int{},
		StructKeys: map[userKey]string{},
		Any:        map[any]any{"s": 1, 2: "two", 3.5: []any{true, nil}},
		Ptr:        &userKey{ID: 7, Lang: "fr"},
		Times: []time.Time{
			time.Date(2026, 11, 25, 12, 0, 0, 7, time.UTC),
			time.Date(2026, 11, 25, 13, 0, 0, 7, time.FixedZone("CET", 3600)), // the same instant
		},
		Floats: map[float64]bool{0.5: true, -1e300: false, 3: true},
	}
	for i := range 50 {
		a.StringInt[fmt.Sprint("k", i)] = i
		a.IntString[i*7919] = fmt.Sprint(i)
		a.Nested[fmt.Sprint(i%5)] = map[string][]int{fmt.Sprint(i): {i, -i}}
		a.StructKeys[userKey{ID: i, Lang: "x"}] = fmt.Sprint(i)
	}
	return a
}

func keysOfArgs(t testing.TB) []string {
	f := gecaso.Cached(faulty.New(nil), func(context.Context, keyArgs) (int, error) { return 0, nil },
		gecaso.WithName("args"))
	a := makeKeyArgs()
	var keys []string
	for _, v := range []keyArgs{a, {}, {Ptr: &userKey{}}, {Times: a.Times[1:]}} {
		k, err := f.Key(v)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	return keys
}

// TestKeyChild prints the keys when run as a child of TestKey_acrossProcesses.
func TestKeyChild(t *testing.T) {
	if os.Getenv("GECASO_KEY_CHILD") != "1" {
		t.Skip("runs as a child of TestKey_acrossProcesses")
	}
	fmt.Println("KEYS " + strings.Join(keysOfArgs(t), " "))
}

func TestKey_acrossProcesses(t *testing.T) {
	want := keysOfArgs(t)
	if want[0] == want[1] || want[1] == want[2] {
		t.Fatalf("different arguments give equal keys: %q", want)
	}
	for i := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKeyChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "GECASO_KEY_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child %d: %v\n%s", i, err, out)
		}
		var got []string
		for line := range strings.Lines(string(out)) {
			if rest, ok := strings.CutPrefix(line, "KEYS "); ok {
				got = strings.Fields(rest)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("child %d keys differ (-parent +child):\n%s", i, diff)
		}
	}
}

type userKey struct {
	ID   int
	Lang string
}
