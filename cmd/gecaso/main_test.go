package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/codec"
	"github.com/gecaso/gecaso/internal/redistest"
	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/badger"
	"github.com/gecaso/gecaso/storage/redis"
)

// gecasoBin is the command built once by TestMain; the tests run it as a
// user would.
var gecasoBin string

func TestMain(m *testing.M) {
	if dir := os.Getenv(holdEnv); dir != "" {
		hold(dir)
	}
	os.Exit(buildAndRun(m))
}

// holdEnv names a directory that the test binary, run as a child, opens,
// writes to and holds until it is killed.
const holdEnv = "GECASO_TEST_HOLD_DIR"

func hold(dir string) {
	s, err := badger.Open(dir, badger.WithGCInterval(-1))
	if err == nil {
		err = s.Set(context.Background(), "held:1", []byte("written while held"), storage.Params{})
	}
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("holding")
	select {}
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "gecaso-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	gecasoBin = filepath.Join(dir, "gecaso")
	args := []string{"build", "-o", gecasoBin}
	if raceEnabled {
		args = append(args, "-race") // the command's own races fail its tests too
	}
	cmd := exec.Command(goTool(), append(args, ".")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the gecaso command: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// goTool returns the go command of the toolchain running the tests.
func goTool() string {
	//lint:ignore SA1019 the go command that built this test binary is the one wanted, and go test runs it where it was built
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// result is what one run of the command did.
type result struct {
	stdout, stderr string
	code           int
}

// gecasoCmd returns the command line for the built binary.
func gecasoCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(gecasoBin, args...)
	cmd.Env = append(os.Environ(), "REDISCLI_AUTH=")
	return cmd
}

// runCmd runs the command with args and stdin (nil: none).
func runCmd(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	cmd := gecasoCmd(args...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("gecaso %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// mustRun runs the command and fails the test unless it exits with 0.
func mustRun(t *testing.T, args ...string) result {
	t.Helper()
	r := runCmd(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("gecaso %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	quietStderr(t, r, args)
	return r
}

// quietStderr fails the test when a successful run wrote to stderr, which
// is no terminal here: no progress bar, no warnings.
func quietStderr(t *testing.T, r result, args []string) {
	t.Helper()
	if r.code == 0 && r.stderr != "" {
		t.Errorf("gecaso %s wrote to stderr, which is not a terminal:\n%s", strings.Join(args, " "), r.stderr)
	}
}

// runJSON runs the command with -json, expects exit status code and decodes
// the one JSON document on stdout into v.
func runJSON(t *testing.T, code int, v any, args ...string) result {
	t.Helper()
	args = append([]string{args[0], "-json"}, args[1:]...)
	r := runCmd(t, nil, args...)
	if r.code != code {
		t.Fatalf("gecaso %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	quietStderr(t, r, args)
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("gecaso %s: stdout is not the documented JSON: %v\n%s", strings.Join(args, " "), err, r.stdout)
	}
	if dec.More() {
		t.Fatalf("gecaso %s: more than one JSON document:\n%s", strings.Join(args, " "), r.stdout)
	}
	return r
}

// user is the result type of the functions the fixture caches.
type user struct {
	Name string
	Age  int
	Tags []string
}

func fetchUser(_ context.Context, id int) (user, error) {
	return user{Name: fmt.Sprintf("user%d", id), Age: 20 + id, Tags: []string{"a", "b"}}, nil
}

// fixture describes what seed wrote.
type fixture struct {
	live    []string // keys of valid, unexpired entries
	expired []string // valid entries past their expiry, still stored
	corrupt []string // entries whose bytes do not decode
	// funcs read the live entries of each namespace back.
	users2  *gecaso.Func[int, user] // app.users@2, TTL 1h, a param
	users   *gecaso.Func[int, user] // app.users, no TTL
	users22 *gecaso.Func[int, user] // app.users2: must survive purging app.users
}

// Namespaces of the fixture, with what each holds.
const (
	nsUsers2  = "app.users@2" // 5 live with a TTL of an hour, 2 corrupt
	nsUsers   = "app.users"   // 2 live, no TTL
	nsUsers22 = "app.users2"  // 1 live
	nsOld     = "app.old"     // 2 expired but still stored
)

// seed writes the fixture into s through gecaso and the storage API.
func seed(t *testing.T, s storage.Storage) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{
		users2: gecaso.Cached(s, fetchUser, gecaso.WithName("app.users"), gecaso.WithVersion("2"),
			gecaso.WithTTL(time.Hour), gecaso.WithParam("source", "db")),
		users:   gecaso.Cached(s, fetchUser, gecaso.WithName("app.users")),
		users22: gecaso.Cached(s, fetchUser, gecaso.WithName("app.users2")),
	}
	call := func(fn *gecaso.Func[int, user], ids ...int) {
		for _, id := range ids {
			if _, err := fn.Call(ctx, id); err != nil {
				t.Fatal(err)
			}
			k, _ := fn.Key(id)
			f.live = append(f.live, k)
		}
	}
	call(f.users2, 1, 2, 3, 4, 5)
	call(f.users, 1, 2)
	call(f.users22, 1)
	// An entry that is not gecaso's: namespace (other).
	other, err := codec.Pack("plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	set(t, s, "plainkey", other, 0)
	f.live = append(f.live, "plainkey")

	// Expired entries a storage without expiry would still hold.
	for i := range 2 {
		b, err := codec.AppendEnvelope(nil, &codec.Envelope{
			WrittenAt: time.Now().Add(-2 * time.Hour),
			ExpiresAt: time.Now().Add(-time.Hour),
			Data:      mustMarshal(t, i),
		})
		if err != nil {
			t.Fatal(err)
		}
		k := fmt.Sprintf("%s:expired%d", nsOld, i)
		set(t, s, k, b, 0)
		f.expired = append(f.expired, k)
	}

	// Garbage, and a real entry with one byte flipped.
	set(t, s, nsUsers2+":garbage", []byte("this is not an envelope"), time.Hour)
	good, err := s.Get(ctx, f.live[0])
	if err != nil {
		t.Fatal(err)
	}
	good[len(good)-6] ^= 0x40
	set(t, s, nsUsers2+":flipped", good, time.Hour)
	f.corrupt = []string{nsUsers2 + ":flipped", nsUsers2 + ":garbage"}
	return f
}

func set(t *testing.T, s storage.Storage, key string, value []byte, ttl time.Duration) {
	t.Helper()
	if err := s.Set(context.Background(), key, value, storage.Params{TTL: ttl}); err != nil {
		t.Fatal(err)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := codec.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// openTestBadger opens dir for the test and closes it when the test ends,
// unless the test closed it first.
func openTestBadger(t *testing.T, dir string) *badger.Storage {
	t.Helper()
	s, err := badger.Open(dir, badger.WithGCInterval(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// seededBadger returns a closed Badger directory holding the fixture.
func seededBadger(t *testing.T) (string, *fixture) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "cache")
	s := openTestBadger(t, dir)
	f := seed(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, f
}

// redisTarget is a fresh Redis server, a storage over it under prefix, and
// the command-line target for it.
type redisTarget struct {
	srv    *redistest.Server
	client *goredis.Client
	s      *redis.Storage
	url    string
	prefix string
}

func startRedis(t *testing.T, prefix string) *redisTarget {
	t.Helper()
	srv := redistest.Start(t)
	c := srv.Client()
	return &redisTarget{srv: srv, client: c, s: redis.New(c, redis.WithPrefix(prefix)), url: "redis://" + srv.Addr, prefix: prefix}
}

// treeDigest returns the name, mode and SHA-256 of every file under dir.
func treeDigest(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			out[rel] = "dir " + info.Mode().String()
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[rel] = fmt.Sprintf("%s %d %s", info.Mode(), len(b), hex.EncodeToString(sum[:]))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// keysOf lists the keys of s.
func keysOf(t *testing.T, s storage.Scanner) []string {
	t.Helper()
	var keys []string
	err := s.Scan(context.Background(), "", func(ki storage.KeyInfo) error {
		keys = append(keys, ki.Key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}
