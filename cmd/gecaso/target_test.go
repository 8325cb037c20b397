package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// argsFor returns the arguments of command c run against target, with
// dump the file export writes and import reads.
func argsFor(c, target, dump string) []string {
	switch c {
	case "get":
		return []string{c, target, "app.users:x"}
	case "purge":
		return []string{c, target, "app.users"}
	case "export":
		return []string{c, target, dump}
	case "import":
		return []string{c, dump, target}
	case "ls":
		return []string{c, target, "app"}
	}
	return []string{c, target}
}

// emptyDump writes a valid dump without records.
func emptyDump(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "empty")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	openTestBadger(t, dir).Close()
	p := filepath.Join(t.TempDir(), "empty.dump")
	mustRun(t, "export", dir, p)
	return p
}

func TestMissingDirectoryIsNotCreated(t *testing.T) {
	t.Parallel()
	dump := emptyDump(t)
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "nothing-here")
			r := runCmd(t, nil, argsFor(c.name, dir, dump)...)
			if r.code != 1 || !strings.Contains(r.stderr, dir+" does not exist") {
				t.Errorf("exit %d, stderr %q; want 1 and %q", r.code, r.stderr, dir+" does not exist")
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("gecaso %s created %s (stat: %v)", c.name, dir, err)
			}
		})
	}
}

func TestNotABadgerDirectory(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "file")
	notBadger := t.TempDir()
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(notBadger, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	dump := emptyDump(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"a file", []string{"stats", file}, "is not a directory"},
		{"a directory without MANIFEST", []string{"stats", notBadger}, "is not a Badger directory (it has no MANIFEST file)"},
		{"import into a non-empty directory", []string{"import", dump, notBadger}, "is not a Badger directory"},
		{"gc of an empty directory", []string{"gc", t.TempDir()}, "is not a Badger directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := treeDigest(t, notBadger)
			r := runCmd(t, nil, tt.args...)
			if r.code != 1 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", r.code, r.stderr, tt.want)
			}
			if diff := cmp.Diff(before, treeDigest(t, notBadger)); diff != "" {
				t.Errorf("the directory changed (-before +after):\n%s", diff)
			}
		})
	}
}

// TestLockedDirectoryIsRefused holds the directory open in the test
// process, as a running application would, and checks that every command
// refuses it with a message saying so and what to do.
func TestLockedDirectoryIsRefused(t *testing.T) {
	t.Parallel()
	dir, _ := seededBadger(t)
	dump := emptyDump(t)
	openTestBadger(t, dir) // held until the test ends
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			r := runCmd(t, nil, argsFor(c.name, dir, dump)...)
			want := []string{dir + " is in use by another process", "Badger's lock", "stop that process"}
			if c.name == "stats" || c.name == "ls" || c.name == "get" || c.name == "verify" || c.name == "export" {
				want = append(want, "even a read-only open", "copy the directory")
			}
			if r.code != 1 {
				t.Errorf("exit %d, want 1", r.code)
			}
			for _, w := range want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not say %q:\n%s", w, r.stderr)
				}
			}
		})
	}
}

// TestUncleanDirectoryReadOnly kills a process that holds the directory
// open, which leaves Badger's log for the next writer to replay, and checks
// that a read-only command says what to do, and that gc, which writes,
// replays it so that the read-only commands work again.
func TestUncleanDirectoryReadOnly(t *testing.T) {
	t.Parallel()
	dir, _ := seededBadger(t)
	holdAndKill(t, dir)
	r := runCmd(t, nil, "stats", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "was not closed cleanly") || !strings.Contains(r.stderr, "gecaso gc "+dir) {
		t.Fatalf("stats of an unclean directory: exit %d\n%s", r.code, r.stderr)
	}
	mustRun(t, "gc", dir)
	mustRun(t, "stats", dir)
}

// holdAndKill has a child process open dir for writing, write to it and
// get killed with SIGKILL while it holds it.
func holdAndKill(t *testing.T, dir string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holdEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if line != "holding\n" {
		t.Fatalf("the child said %q (%v)", line, err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatal("the child exited on its own")
	}
}

// waitLocked polls until process pid holds dir's lock: Badger writes the
// pid of the process that opened a directory for writing in its LOCK file.
// (Trying to open the directory instead would take the lock from under a
// process about to open it.)
func waitLocked(t *testing.T, dir string, pid int) {
	t.Helper()
	want := fmt.Sprintf("%d\n", pid)
	deadline := time.Now().Add(time.Minute)
	for {
		b, err := os.ReadFile(filepath.Join(dir, "LOCK"))
		if err == nil && string(b) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d did not lock %s within a minute (LOCK: %q, %v)", pid, dir, b, err)
		}
		<-time.After(5 * time.Millisecond) // poll
	}
}

// TestReadOnlyCommandsLeaveFilesUnchanged runs every command that only
// reads on a directory and compares each file's bytes before and after.
func TestReadOnlyCommandsLeaveFilesUnchanged(t *testing.T) {
	t.Parallel()
	dir, f := seededBadger(t)
	out := t.TempDir()
	tests := [][]string{
		{"stats", dir},
		{"stats", "-json", dir},
		{"ls", dir},
		{"ls", "-json", dir, "app."},
		{"get", dir, f.live[0]},
		{"get", "-json", dir, f.expired[0]},
		{"verify", dir},
		{"verify", "-json", dir},
		{"export", dir, filepath.Join(out, "a.dump")},
		{"export", "-json", dir, "-"},
	}
	for _, args := range tests {
		t.Run(strings.Join(args[:len(args)-1], " "), func(t *testing.T) {
			before := treeDigest(t, dir)
			r := runCmd(t, nil, args...)
			if r.code != 0 && args[0] != "verify" {
				t.Fatalf("exit %d:\n%s", r.code, r.stderr)
			}
			if diff := cmp.Diff(before, treeDigest(t, dir)); diff != "" {
				t.Errorf("files changed (-before +after):\n%s", diff)
			}
		})
	}
}

func TestUnreachableRedis(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	dump := emptyDump(t)
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			r := runCmd(t, nil, argsFor(c.name, "redis://"+addr, dump)...)
			want := "redis at " + addr + " is unreachable"
			if r.code != 1 || !strings.Contains(r.stderr, want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", r.code, r.stderr, want)
			}
		})
	}
}

func TestParseRedisURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		give string
		want redisURL
	}{
		{"redis://127.0.0.1:6380", redisURL{addrs: []string{"127.0.0.1:6380"}}},
		{"redis://localhost", redisURL{addrs: []string{"localhost:6379"}}},
		{"redis://h:1/3", redisURL{addrs: []string{"h:1"}, db: 3}},
		{"redis://u:p%40ss@h:1/", redisURL{addrs: []string{"h:1"}, user: "u", password: "p@ss"}},
		{"redis://:secret@h:1", redisURL{addrs: []string{"h:1"}, password: "secret"}},
		{"rediss://a:1,b:2,[::1]:3", redisURL{addrs: []string{"a:1", "b:2", "[::1]:3"}, tls: true}},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			got, err := parseRedisURL(tt.give)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(redisURL{}), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	for _, bad := range []string{"redis://", "redis://h:x", "redis://h:1/db", "redis://a:1,b:2/1", "redis://a:1,,b:2", "redis://h:70000"} {
		if _, err := parseRedisURL(bad); err == nil {
			t.Errorf("parseRedisURL(%q) succeeded", bad)
		}
	}
	if got := redact("redis://u:secret@h:1"); strings.Contains(got, "secret") {
		t.Errorf("redact kept the password: %s", got)
	}
}
