package badger

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	bdb "github.com/dgraph-io/badger/v4"
)

// slogLogger adapts a *slog.Logger to Badger's printf-style Logger.
//
// Badger's informational messages go to Debug: Badger is tuned to run a
// database, and at Info it reports every compaction step, which would drown
// an application's own Info lines for nothing a cache user can act on.
type slogLogger struct{ l *slog.Logger }

var _ bdb.Logger = slogLogger{}

func (s slogLogger) log(level slog.Level, format string, args []any) {
	ctx := context.Background()
	if !s.l.Enabled(ctx, level) {
		return // skip formatting messages nobody reads
	}
	s.l.Log(ctx, level, strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (s slogLogger) Errorf(format string, args ...any)   { s.log(slog.LevelError, format, args) }
func (s slogLogger) Warningf(format string, args ...any) { s.log(slog.LevelWarn, format, args) }
func (s slogLogger) Infof(format string, args ...any)    { s.log(slog.LevelDebug, format, args) }
func (s slogLogger) Debugf(format string, args ...any)   { s.log(slog.LevelDebug, format, args) }
