// Package redistest starts throwaway redis-server processes on the loopback
// interface for tests: a single server ([Start]) or a three-master cluster
// ([StartCluster]). Servers keep nothing on disk beyond the test's temporary
// directory and are killed when the test ends.
//
// Tests that call Start or StartCluster are skipped, loudly, when
// redis-server is not on PATH; set GECASO_REQUIRE_REDIS=1 (as CI does) to
// make them fail instead.
//
// Everything here talks to 127.0.0.1 only.
package redistest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// RequireEnv is the environment variable that turns a missing redis-server
// into a test failure instead of a skip.
const RequireEnv = "GECASO_REQUIRE_REDIS"

const (
	host         = "127.0.0.1"
	startTimeout = 10 * time.Second // for one server to answer PING
	pollEvery    = 5 * time.Millisecond
	bindAttempts = 5 // fresh ports tried when another process took ours
)

// Server is one redis-server process listening on 127.0.0.1. Its methods
// are safe for concurrent use, but Kill and Restart are meant to be called
// from the test's own goroutine.
type Server struct {
	// Addr is "127.0.0.1:port"; it stays the same across Restart.
	Addr string

	t       testing.TB
	dir     string
	cluster bool   // start in cluster mode
	busPort int    // the cluster bus port, when cluster is set
	monitor string // start as a Sentinel of the master at this address

	mu   sync.Mutex // guards proc
	proc *process   // nil while killed
}

// process is one running redis-server.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd.Wait returned
	out    *syncBuffer   // the server's log
}

// Start starts a redis-server on a free loopback port with no persistence
// and waits until it answers PING. The server is killed when the test ends.
// Start skips the test when redis-server is not installed (see [RequireEnv]).
func Start(t testing.TB) *Server {
	t.Helper()
	requireBinary(t, "redis-server")
	s := &Server{t: t, dir: t.TempDir()}
	t.Cleanup(s.Kill)
	if err := s.startFresh(); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	return s
}

// requireBinary skips (or fails, under RequireEnv) when name is not on PATH.
func requireBinary(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err == nil {
		return
	}
	msg := fmt.Sprintf("%s not on PATH: Redis tests SKIPPED; set %s=1 to fail instead", name, RequireEnv)
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("redistest: %s not on PATH and %s=1", name, RequireEnv)
	}
	t.Skip("!!! " + msg + " !!!")
}

// startFresh starts the server on a newly chosen port, trying again with
// another port when the chosen one was taken in the meantime.
func (s *Server) startFresh() error {
	var err error
	for range bindAttempts {
		var port int
		port, err = freePort()
		if err != nil {
			return err
		}
		s.Addr = net.JoinHostPort(host, strconv.Itoa(port))
		if s.cluster {
			if s.busPort, err = freePort(); err != nil {
				return err
			}
		}
		err = s.start()
		if err == nil || !errors.Is(err, errAddrInUse) {
			return err
		}
	}
	return err
}

var errAddrInUse = errors.New("address already in use")

// start runs redis-server on s.Addr and waits for PING.
func (s *Server) start() error {
	_, port, _ := net.SplitHostPort(s.Addr)
	args := []string{
		"--port", port,
		"--bind", host,
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--logfile", "",
		"--daemonize", "no",
	}
	if s.monitor != "" {
		// A Sentinel rewrites its configuration file: it needs one of its own.
		conf := filepath.Join(s.dir, "sentinel.conf")
		mhost, mport, _ := net.SplitHostPort(s.monitor)
		if _, err := os.Stat(conf); err != nil {
			line := fmt.Sprintf("sentinel monitor %s %s %s 1\n", SentinelMaster, mhost, mport)
			if err := os.WriteFile(conf, []byte(line), 0o600); err != nil {
				return err
			}
		}
		args = []string{conf, "--sentinel", "--port", port, "--bind", host, "--dir", s.dir, "--logfile", "", "--daemonize", "no"}
	}
	if s.cluster {
		args = append(args,
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(s.busPort),
			"--cluster-announce-ip", host,
			"--cluster-node-timeout", "5000",
		)
	}
	out := &syncBuffer{}
	cmd := exec.Command("redis-server", args...)
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{}), out: out}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()

	deadline := time.Now().Add(startTimeout)
	for {
		if ping(s.Addr) == nil {
			return nil
		}
		select {
		case <-p.exited:
			s.mu.Lock()
			s.proc = nil
			s.mu.Unlock()
			log := out.String()
			if strings.Contains(log, "Address already in use") {
				return fmt.Errorf("redis-server on %s: %w", s.Addr, errAddrInUse)
			}
			return fmt.Errorf("redis-server on %s exited before answering PING:\n%s", s.Addr, log)
		case <-time.After(pollEvery):
		}
		if time.Now().After(deadline) {
			s.Kill()
			return fmt.Errorf("redis-server on %s did not answer PING within %v:\n%s", s.Addr, startTimeout, out.String())
		}
	}
}

// Kill sends SIGKILL to the server and waits for it to exit. Clients see
// their connections fail. Kill of a killed server does nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// Restart starts the server again on the same port after [Server.Kill]
// (killing it first if it runs) and waits until it answers PING. The data
// is gone: the server keeps nothing on disk.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	var err error
	deadline := time.Now().Add(startTimeout)
	for {
		// The port may be briefly unavailable right after the kill.
		if err = s.start(); err == nil || !errors.Is(err, errAddrInUse) || time.Now().After(deadline) {
			break
		}
		time.Sleep(pollEvery) // poll until the port is free again
	}
	if err != nil {
		s.t.Fatalf("redistest: restart: %v", err)
	}
}

// ioTimeout is the read and write timeout of the clients: short enough
// that a test of a stalled server ends soon, long enough that an 8 MiB
// value crosses loopback under -race on a busy two-core machine (2 s did
// not, about once in 30 runs).
const ioTimeout = 5 * time.Second

// Options returns client options for the server tuned for tests of a cache:
// contexts cut blocked reads, no retries (of commands or dials), short
// timeouts.
func (s *Server) Options() *goredis.Options {
	return &goredis.Options{
		Addr:                  s.Addr,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
		DialerRetries:         1,
		DialTimeout:           2 * time.Second,
		ReadTimeout:           ioTimeout,
		WriteTimeout:          ioTimeout,
		DisableIdentity:       true,
	}
}

// Client returns a new client of the server made from [Server.Options],
// closed when the test ends. Each call returns a separate client with its
// own connection pool.
func (s *Server) Client() *goredis.Client {
	c := goredis.NewClient(s.Options())
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Log returns what the server has written to its log since it last started.
func (s *Server) Log() string {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil {
		return ""
	}
	return p.out.String()
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	return port, nil
}

// ping sends one PING over a fresh connection and wants +PONG back.
func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(500 * time.Millisecond)); err != nil {
		return err
	}
	if _, err := conn.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("ping %s: got %q", addr, line)
	}
	return nil
}

// syncBuffer is a bytes.Buffer safe for the writer goroutine of exec and a
// concurrent reader.
type syncBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// SentinelMaster is the name under which a [Sentinel] monitors its master.
const SentinelMaster = "gecaso"

// Sentinel is a Redis Sentinel on loopback watching one master.
type Sentinel struct {
	// Addr is the Sentinel's address, "127.0.0.1:port".
	Addr string
	// Master is the server the Sentinel monitors, as [SentinelMaster].
	Master *Server

	t testing.TB
}

// StartSentinel starts a master and one Sentinel monitoring it (quorum 1),
// and waits until the Sentinel reports the master's address. Both are
// killed when the test ends.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	master := Start(t)
	s := &Server{t: t, dir: t.TempDir(), monitor: master.Addr}
	t.Cleanup(s.Kill)
	if err := s.startFresh(); err != nil {
		t.Fatalf("redistest: sentinel: %v", err)
	}
	sc := goredis.NewSentinelClient(&goredis.Options{Addr: s.Addr, DisableIdentity: true})
	defer sc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		addr, err := sc.GetMasterAddrByName(ctx, SentinelMaster).Result()
		if err == nil && net.JoinHostPort(addr[0], addr[1]) == master.Addr {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("redistest: sentinel does not report its master: %v, %v", addr, err)
		case <-time.After(pollEvery):
		}
	}
	return &Sentinel{Addr: s.Addr, Master: master, t: t}
}

// Options returns failover client options for the master behind the
// Sentinel, tuned like [Server.Options].
func (s *Sentinel) Options() *goredis.FailoverOptions {
	return &goredis.FailoverOptions{
		MasterName:            SentinelMaster,
		SentinelAddrs:         []string{s.Addr},
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
		DialerRetries:         1,
		DialTimeout:           2 * time.Second,
		ReadTimeout:           ioTimeout,
		WriteTimeout:          ioTimeout,
		DisableIdentity:       true,
	}
}

// Client returns a new failover client made from [Sentinel.Options],
// closed when the test ends.
func (s *Sentinel) Client() *goredis.Client {
	c := goredis.NewFailoverClient(s.Options())
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Cluster is a Redis Cluster of three masters and no replicas on loopback.
type Cluster struct {
	// Addrs are the masters' addresses, "127.0.0.1:port".
	Addrs []string
	// Servers are the masters, in the order of Addrs.
	Servers []*Server

	t testing.TB
}

// StartCluster starts three redis-server processes in cluster mode, assigns
// each a third of the hash slots, joins them, and waits until every node
// reports cluster_state:ok. The servers are killed when the test ends.
//
// The cluster is built with CLUSTER ADDSLOTSRANGE and CLUSTER MEET, which
// is what `redis-cli --cluster create ... --cluster-replicas 0` does, minus
// the one-second pauses of redis-cli. Redis itself holds a new master back
// from cluster_state:ok for two seconds after it starts, so StartCluster
// takes about that long; share one cluster among the subtests of a test.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	requireBinary(t, "redis-server")
	c := &Cluster{t: t}
	for i := range 3 {
		s := &Server{t: t, dir: t.TempDir(), cluster: true}
		t.Cleanup(s.Kill)
		if err := s.startFresh(); err != nil {
			t.Fatalf("redistest: cluster node %d: %v", i, err)
		}
		c.Servers = append(c.Servers, s)
		c.Addrs = append(c.Addrs, s.Addr)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const slots = 16384
	for i, s := range c.Servers {
		node := s.Client()
		lo, hi := i*slots/3, (i+1)*slots/3-1
		if err := node.ClusterAddSlotsRange(ctx, lo, hi).Err(); err != nil {
			t.Fatalf("redistest: cluster addslotsrange %d %d on %s: %v", lo, hi, s.Addr, err)
		}
	}
	first := c.Servers[0].Client()
	for _, s := range c.Servers[1:] {
		_, port, _ := net.SplitHostPort(s.Addr)
		if err := first.Do(ctx, "CLUSTER", "MEET", host, port, s.busPort).Err(); err != nil {
			t.Fatalf("redistest: cluster meet %s: %v", s.Addr, err)
		}
	}
	for _, s := range c.Servers {
		node := s.Client()
		for {
			info, err := node.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:3") {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("redistest: cluster node %s not ok in time: %v\n%s", s.Addr, err, info)
			case <-time.After(pollEvery):
			}
		}
	}
	return c
}

// Options returns cluster client options tuned like [Server.Options].
func (c *Cluster) Options() *goredis.ClusterOptions {
	return &goredis.ClusterOptions{
		Addrs:                 append([]string(nil), c.Addrs...),
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
		DialerRetries:         1,
		DialTimeout:           2 * time.Second,
		ReadTimeout:           ioTimeout,
		WriteTimeout:          ioTimeout,
		DisableIdentity:       true,
	}
}

// Client returns a new cluster client made from [Cluster.Options], closed
// when the test ends.
func (c *Cluster) Client() *goredis.ClusterClient {
	cc := goredis.NewClusterClient(c.Options())
	c.t.Cleanup(func() { _ = cc.Close() })
	return cc
}
