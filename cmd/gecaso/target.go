package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/badger"
	"github.com/gecaso/gecaso/storage/redis"
)

// target is an opened cache: a Badger directory or a Redis server.
type target struct {
	spec string // as given on the command line
	kind string // "badger" or "redis"
	s    storage.Storage
	scan storage.Scanner

	bs  *badger.Storage // Badger only
	dir string

	client goredis.UniversalClient // Redis only
	prefix string
	addrs  []string
}

// access says how a command uses its target.
type access int

const (
	readOnly  access = iota // never writes; Badger is opened read-only
	readWrite               // writes an existing cache
	importing               // writes; an empty Badger directory is fine
)

// Timeouts for Redis: a command that cannot reach the server says so
// quickly, while a large value or a long pipeline still has time.
const (
	redisDialTimeout = 2 * time.Second
	redisIOTimeout   = 30 * time.Second
	redisPingTimeout = 5 * time.Second
)

func init() {
	// go-redis logs pool and dial trouble to stderr on its own; the command
	// reports errors itself.
	goredis.SetLogger(silentLogger{})
}

type silentLogger struct{}

func (silentLogger) Printf(context.Context, string, ...any) {}

// openTarget opens spec: a redis:// or rediss:// URL, or a Badger
// directory.
func openTarget(ctx context.Context, spec string, o *options, a access) (*target, error) {
	if strings.HasPrefix(spec, "redis://") || strings.HasPrefix(spec, "rediss://") {
		return openRedis(ctx, spec, o.prefix)
	}
	if o.prefix != "" {
		return nil, usagef("-prefix applies to Redis targets only, and %s is a Badger directory", spec)
	}
	return openBadger(spec, a)
}

func openBadger(dir string, a access) (*target, error) {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if a == importing {
			return nil, fmt.Errorf("%s does not exist; gecaso creates no directory: make it first (mkdir %s) to import into a new Badger directory", dir, dir)
		}
		return nil, fmt.Errorf("%s does not exist (gecaso opens existing Badger directories only)", dir)
	case err != nil:
		return nil, err
	case !fi.IsDir():
		return nil, fmt.Errorf("%s is not a directory; a Badger target is the directory given to badger.Open", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST")); err != nil {
		empty, _ := isEmptyDir(dir)
		if a != importing || !empty {
			return nil, fmt.Errorf("%s is not a Badger directory (it has no MANIFEST file)", dir)
		}
	}
	opts := []badger.Option{badger.WithGCInterval(-1)}
	if a == readOnly {
		opts = append(opts, badger.WithReadOnly())
	}
	s, err := badger.Open(dir, opts...)
	if err != nil {
		return nil, badgerOpenError(dir, a, err)
	}
	return &target{spec: dir, kind: "badger", s: s, scan: s, bs: s, dir: dir}, nil
}

// badgerOpenError explains the ways opening an existing directory fails.
func badgerOpenError(dir string, a access, err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, badger.ErrLocked):
		if a == readOnly {
			return fmt.Errorf("%s is in use by another process, which holds Badger's lock on it "+
				"(Badger refuses even a read-only open while a writer has the directory): "+
				"stop that process, or copy the directory (cp -a %s COPY) and run gecaso on the copy", dir, dir)
		}
		return fmt.Errorf("%s is in use by another process, which holds Badger's lock on it; "+
			"only one process at a time may write a Badger directory: stop that process first", dir)
	case strings.Contains(msg, "Log truncate required"):
		return fmt.Errorf("%s was not closed cleanly (the process writing it stopped without closing it), "+
			"and a read-only open cannot replay its log: open it for writing once, by starting the "+
			"application or with 'gecaso gc %s', or run gecaso on a copy after doing that there", dir, dir)
	}
	return err
}

func isEmptyDir(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	return len(names) == 0 && err != nil, nil
}

// redisURL is a parsed redis:// target.
type redisURL struct {
	addrs    []string
	db       int
	user     string
	password string
	tls      bool
}

// parseRedisURL parses redis://[user[:password]@]host[:port][,host[:port]...][/db].
// The port defaults to 6379.
func parseRedisURL(spec string) (redisURL, error) {
	var u redisURL
	rest, ok := strings.CutPrefix(spec, "redis://")
	if !ok {
		rest, _ = strings.CutPrefix(spec, "rediss://")
		u.tls = true
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		info := rest[:at]
		rest = rest[at+1:]
		user, pass, hasPass := strings.Cut(info, ":")
		var err error
		if u.user, err = url.PathUnescape(user); err != nil {
			return u, usagef("%s: bad user name: %v", redact(spec), err)
		}
		if hasPass {
			if u.password, err = url.PathUnescape(pass); err != nil {
				return u, usagef("%s: bad password: %v", redact(spec), err)
			}
		}
	}
	hosts, db, hasDB := strings.Cut(rest, "/")
	if hasDB && db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return u, usagef("%s: the database %q is not a number", redact(spec), db)
		}
		u.db = n
	}
	for h := range strings.SplitSeq(hosts, ",") {
		if h == "" {
			return u, usagef("%s: empty host", redact(spec))
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(strings.Trim(h, "[]"), "6379")
		}
		if _, port, err := net.SplitHostPort(h); err != nil {
			return u, usagef("%s: bad address %q: %v", redact(spec), h, err)
		} else if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return u, usagef("%s: bad port in %q", redact(spec), h)
		}
		u.addrs = append(u.addrs, h)
	}
	if len(u.addrs) > 1 && u.db != 0 {
		return u, usagef("%s: a Cluster has only database 0", redact(spec))
	}
	return u, nil
}

// redact hides the password of a redis URL in messages.
func redact(spec string) string {
	scheme, rest, _ := strings.Cut(spec, "://")
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return spec
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass {
		return spec
	}
	return scheme + "://" + user + ":xxxxx" + rest[at:]
}

func openRedis(ctx context.Context, spec, prefix string) (*target, error) {
	u, err := parseRedisURL(spec)
	if err != nil {
		return nil, err
	}
	opts := redis.DefaultOptions(u.addrs...)
	opts.DB = u.db
	opts.Username = u.user
	opts.Password = u.password
	if opts.Password == "" {
		opts.Password = os.Getenv("REDISCLI_AUTH")
	}
	opts.DialTimeout = redisDialTimeout
	opts.ReadTimeout = redisIOTimeout
	opts.WriteTimeout = redisIOTimeout
	if u.tls {
		host, _, _ := net.SplitHostPort(u.addrs[0])
		opts.TLSConfig = &tls.Config{ServerName: host}
	}
	where := strings.Join(u.addrs, ",")
	client := goredis.NewUniversalClient(opts)
	if err := ping(ctx, client); err != nil {
		client.Close()
		if strings.Contains(err.Error(), "SELECT is not allowed in cluster mode") {
			return nil, usagef("%s: a Cluster has only database 0", redact(spec))
		}
		return nil, unreachable(ctx, where, err)
	}
	if len(u.addrs) == 1 {
		// One address of a Cluster node: talk to the whole Cluster.
		info, err := client.Info(ctx, "cluster").Result()
		if err == nil && strings.Contains(info, "cluster_enabled:1") {
			client.Close()
			if u.db != 0 {
				return nil, usagef("%s: a Cluster has only database 0", redact(spec))
			}
			opts.IsClusterMode = true
			client = goredis.NewUniversalClient(opts)
			if err := ping(ctx, client); err != nil {
				client.Close()
				return nil, unreachable(ctx, where, err)
			}
		}
	}
	s := redis.New(client, redis.WithPrefix(prefix), redis.WithCloseClient())
	return &target{spec: redact(spec), kind: "redis", s: s, scan: s, client: client, prefix: prefix, addrs: u.addrs}, nil
}

func ping(ctx context.Context, c goredis.UniversalClient) error {
	ctx, cancel := context.WithTimeout(ctx, redisPingTimeout)
	defer cancel()
	return c.Ping(ctx).Err()
}

func unreachable(ctx context.Context, where string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("redis at %s is unreachable: %w", where, err)
}

// Close releases the target: Badger's directory lock, Redis's connections.
func (t *target) Close() error {
	if c, ok := t.s.(interface{ Close() error }); ok {
		return c.Close()
	}
	return nil
}

// entry is one stored entry read by walk.
type entry struct {
	Info  storage.KeyInfo
	Value []byte // belongs to the callback until it returns
}

// walkBatch bounds how many entries, and about how many bytes of values,
// walk reads at once.
const (
	walkBatch      = 256
	walkBatchBytes = 8 << 20
)

// walk calls fn for every entry whose key starts with prefix, with its
// value, reading the values in batches. Entries that vanish between the
// listing and the read are skipped. fn may remove entries.
func (t *target) walk(ctx context.Context, prefix string, fn func(*entry) error) error {
	batch := make([]storage.KeyInfo, 0, walkBatch)
	var bytes int64
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		values, err := t.fetch(ctx, batch)
		if err != nil {
			return err
		}
		for i, v := range values {
			if v == nil {
				continue
			}
			if err := fn(&entry{Info: batch[i], Value: v}); err != nil {
				return err
			}
		}
		batch, bytes = batch[:0], 0
		return nil
	}
	err := t.scan.Scan(ctx, prefix, func(ki storage.KeyInfo) error {
		batch = append(batch, ki)
		bytes += ki.Size
		if len(batch) >= walkBatch || bytes >= walkBatchBytes {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// fetch reads the values of keys: nil for a key that is gone. On Redis it
// reads a batch in one pipelined round trip (per node, in a Cluster).
func (t *target) fetch(ctx context.Context, keys []storage.KeyInfo) ([][]byte, error) {
	values := make([][]byte, len(keys))
	if t.client == nil {
		for i, k := range keys {
			v, err := t.s.Get(ctx, k.Key)
			switch {
			case errors.Is(err, storage.ErrNotFound):
			case err != nil:
				return nil, err
			default:
				values[i] = v
			}
		}
		return values, nil
	}
	cmds := make([]*goredis.StringCmd, len(keys))
	// The pipeline's error is its first command's error; each command's
	// own tells a miss or a key of another type from a failure.
	_, _ = t.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Get(ctx, t.prefix+k.Key)
		}
		return nil
	})
	for i, c := range cmds {
		s, err := c.Result()
		switch {
		case errors.Is(err, goredis.Nil):
		case err != nil && strings.HasPrefix(err.Error(), "WRONGTYPE"):
			// Not a string, so not an entry: a hash or a list some other
			// program keeps under the prefix. Leave it alone.
		case err != nil:
			return nil, fmt.Errorf("redis at %s: get %q: %w", strings.Join(t.addrs, ","), keys[i].Key, err)
		default:
			values[i] = []byte(s)
		}
	}
	return values, nil
}

// remover removes keys in batches, counting them.
type remover struct {
	t       *target
	ctx     context.Context
	keys    []string
	removed int64
}

func (r *remover) add(key string) error {
	r.keys = append(r.keys, key)
	if len(r.keys) >= walkBatch {
		return r.flush()
	}
	return nil
}

func (r *remover) flush() error {
	if len(r.keys) == 0 {
		return nil
	}
	if err := r.t.s.Remove(r.ctx, r.keys...); err != nil {
		return err
	}
	r.removed += int64(len(r.keys))
	r.keys = r.keys[:0]
	return nil
}
