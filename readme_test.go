package gecaso_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gecaso/gecaso/internal/redistest"
	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/storagetest"
)

// The README's "Your own storage" example, as printed there (the test below
// checks that the two agree).

// README: own storage begin
type redisStorage struct{ c *goredis.Client }

func (s redisStorage) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := s.c.Get(ctx, key).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, storage.ErrNotFound // a miss
	}
	return b, err
}

func (s redisStorage) Set(ctx context.Context, key string, v []byte, p storage.Params) error {
	return s.c.Set(ctx, key, v, p.TTL).Err() // TTL 0: no expiry
}

func (s redisStorage) Remove(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil // DEL needs at least one key
	}
	return s.c.Del(ctx, keys...).Err()
}

// README: own storage end

func TestReadmeOwnStorage(t *testing.T) {
	srv := redistest.Start(t)
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		c := srv.Client()
		if err := c.FlushAll(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		return redisStorage{c}
	})
}

// TestReadmeOwnStorageAsPrinted checks that the README prints the storage
// this file tests.
func TestReadmeOwnStorageAsPrinted(t *testing.T) {
	src, err := os.ReadFile("readme_test.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	begin, end := "// README: own storage begin\n", "\n// README: own storage end"
	code := s[strings.Index(s, begin)+len(begin) : strings.Index(s, end)]
	if !strings.Contains(string(readme), "```go\n"+code+"```\n") {
		t.Errorf("README.md does not print the storage of readme_test.go:\n%s", code)
	}
}
