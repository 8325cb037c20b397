package redis_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	goredis "github.com/redis/go-redis/v9"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/internal/redistest"
	"github.com/gecaso/gecaso/storage/redis"
)

// The cross-process tests re-execute this test binary as children; these
// environment variables tell a child what to do.
const (
	childRoleEnv   = "GECASO_REDIS_CHILD"    // "share" or "stampede"
	childAddrEnv   = "GECASO_REDIS_ADDR"     // the server
	childPrefixEnv = "GECASO_REDIS_PREFIX"   // the storage prefix
	childNEnv      = "GECASO_REDIS_CHILDREN" // how many children call at once
)

func TestMain(m *testing.M) {
	if role := os.Getenv(childRoleEnv); role != "" {
		if err := runChild(role); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childResult is what a child prints on its last line.
type childResult struct {
	Value string
	Err   string
}

// runChild calls a cached function on the server the parent named and
// prints the result as JSON.
//
// Role "share" calls once. Role "stampede" first prints "ready" and waits
// for a line on stdin, so that the parent can start every child at once;
// its function waits until every child has arrived, so that all of them
// miss together.
func runChild(role string) error {
	opts := redis.DefaultOptions(os.Getenv(childAddrEnv))
	opts.ReadTimeout, opts.WriteTimeout = 5*time.Second, 5*time.Second
	client := goredis.NewUniversalClient(opts)
	defer client.Close()
	prefix := os.Getenv(childPrefixEnv)
	s := redis.New(client, redis.WithPrefix(prefix))
	defer s.Close()
	ctx := context.Background()
	children, _ := strconv.Atoi(os.Getenv(childNEnv))

	fn := func(ctx context.Context, arg string) (string, error) {
		if err := client.Incr(ctx, prefix+"runs").Err(); err != nil {
			return "", err
		}
		if role == "stampede" {
			deadline := time.Now().Add(20 * time.Second)
			for {
				n, err := client.Get(ctx, prefix+"arrived").Int()
				if err != nil {
					return "", err
				}
				if n >= children {
					break
				}
				if time.Now().After(deadline) {
					return "", fmt.Errorf("only %d of %d children arrived", n, children)
				}
				time.Sleep(2 * time.Millisecond) // poll interval
			}
		}
		return fmt.Sprintf("%s computed by process %d", arg, os.Getpid()), nil
	}
	opt := []gecaso.Option{
		gecaso.WithName("crossProcess"),
		gecaso.WithErrorHandler(func(err error) { fmt.Fprintln(os.Stderr, "storage error:", err) }),
	}
	if role == "stampede" {
		opt = append(opt, gecaso.WithLock(30*time.Second))
		fmt.Println("ready")
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			return fmt.Errorf("wait for the start signal: %w", err)
		}
		if err := client.Incr(ctx, prefix+"arrived").Err(); err != nil {
			return err
		}
	}
	f := gecaso.Cached(s, fn, opt...)
	v, err := f.Call(ctx, "question")
	res := childResult{Value: v}
	if err != nil {
		res.Err = err.Error()
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// child is a running child process.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
}

// startChild re-executes the test binary in role against srv.
func startChild(t *testing.T, role, addr, prefix string, children int) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(),
		childRoleEnv+"="+role,
		childAddrEnv+"="+addr,
		childPrefixEnv+"="+prefix,
		childNEnv+"="+strconv.Itoa(children),
		// Under -race a process sleeps a second at exit unless told not to.
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"),
	)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return &child{cmd: cmd, stdin: stdin, stdout: bufio.NewReader(stdout)}
}

// line reads one line the child printed.
func (c *child) line(t *testing.T) string {
	t.Helper()
	l, err := c.stdout.ReadString('\n')
	if err != nil {
		t.Fatalf("read from child: %v (read %q)", err, l)
	}
	return l
}

// result reads the child's result and waits for it to exit.
func (c *child) result(t *testing.T) childResult {
	t.Helper()
	var res childResult
	if err := json.Unmarshal([]byte(c.line(t)), &res); err != nil {
		t.Fatalf("child's result: %v", err)
	}
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	return res
}

// runs reads how many times the children ran the function.
func runs(t *testing.T, c *goredis.Client, prefix string) int {
	t.Helper()
	n, err := c.Get(context.Background(), prefix+"runs").Int()
	if err != nil && err != goredis.Nil {
		t.Fatal(err)
	}
	return n
}

// TestSharedAcrossProcesses runs one process that computes a result, then
// another that finds it in Redis without running the function.
func TestSharedAcrossProcesses(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)

	first := startChild(t, "share", srv.Addr, prefix, 1).result(t)
	second := startChild(t, "share", srv.Addr, prefix, 1).result(t)
	if first.Err != "" || second.Err != "" {
		t.Fatalf("children failed: %q, %q", first.Err, second.Err)
	}
	if diff := cmp.Diff(first.Value, second.Value); diff != "" {
		t.Errorf("the second process's result differs from the first's (-want +got):\n%s", diff)
	}
	if got := runs(t, srv.Client(), prefix); got != 1 {
		t.Errorf("the function ran %d times in two processes, want 1", got)
	}
}

// TestStampedeAcrossProcesses starts several processes that miss the same
// key at once with gecaso.WithLock: the function runs once among them and
// every process gets its result.
func TestStampedeAcrossProcesses(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	const n = 4
	var children []*child
	for range n {
		children = append(children, startChild(t, "stampede", srv.Addr, prefix, n))
	}
	for _, c := range children {
		if got := c.line(t); got != "ready\n" {
			t.Fatalf("child said %q, want \"ready\"", got)
		}
	}
	for _, c := range children {
		if _, err := io.WriteString(c.stdin, "go\n"); err != nil {
			t.Fatal(err)
		}
	}
	var values []string
	for _, c := range children {
		res := c.result(t)
		if res.Err != "" {
			t.Fatalf("child failed: %s", res.Err)
		}
		values = append(values, res.Value)
	}
	for _, v := range values[1:] {
		if v != values[0] {
			t.Errorf("processes got different results: %q", values)
			break
		}
	}
	if got := runs(t, srv.Client(), prefix); got != 1 {
		t.Errorf("the function ran %d times in %d processes that missed together, want 1", got, n)
	}
}
