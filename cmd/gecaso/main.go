package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // an error, or corrupt entries found by verify
	exitUsage   = 2 // a mistake in the command line
)

// command is one of gecaso's commands.
type command struct {
	name     string
	synopsis string // the positional arguments
	summary  string // one line, for the command list
	details  string // for COMMAND -h
	nargs    [2]int // fewest and most positional arguments
	flags    func(fs *flag.FlagSet, o *options)
	run      func(ctx context.Context, o *options, args []string) error
}

// options are the flags of one run and where it writes.
type options struct {
	json   bool
	prefix string
	fix    bool

	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

var commands = []*command{
	statsCommand,
	lsCommand,
	getCommand,
	verifyCommand,
	purgeCommand,
	gcCommand,
	exportCommand,
	importCommand,
}

// usageError is a mistake in the command line; run prints it with a hint
// and exits with status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// errReported is returned by a command that has already printed its
// outcome and only needs the exit status 1 (verify finding corrupt
// entries).
var errReported = errors.New("reported")

// run runs the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, mainUsage)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && args[0] == "help" {
			if c := lookup(args[1]); c != nil {
				printCommandUsage(stdout, c)
				return exitOK
			}
		}
		fmt.Fprint(stdout, mainUsage)
		return exitOK
	}
	c := lookup(args[0])
	if c == nil {
		fmt.Fprintf(stderr, "gecaso: unknown command %q\nRun 'gecaso -h' for the list of commands.\n", args[0])
		return exitUsage
	}
	o := &options{stdin: stdin, stdout: stdout, stderr: stderr}
	pos, err := parseFlags(c, o, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		printCommandUsage(stdout, c)
		return exitOK
	}
	if err == nil && (len(pos) < c.nargs[0] || len(pos) > c.nargs[1]) {
		err = usagef("%s takes %s, not %d argument%s", c.name, c.synopsis, len(pos), plural(len(pos)))
	}
	if err == nil {
		err = c.run(ctx, o, pos)
	}
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "gecaso %s: %s\nUsage: gecaso %s [flags] %s (gecaso %s -h for help)\n",
			c.name, ue.msg, c.name, c.synopsis, c.name)
		return exitUsage
	case errors.Is(err, errReported):
		return exitFailure
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		fmt.Fprintf(stderr, "gecaso: interrupted: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stderr, "gecaso: %v\n", err)
	return exitFailure
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// parseFlags parses the flags of c, which may come before, between or after
// the positional arguments; everything after "--" is positional.
func parseFlags(c *command, o *options, args []string) ([]string, error) {
	fs := newFlagSet(c, o)
	var rest []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, rest = args[:i], args[i+1:]
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	return append(pos, rest...), nil
}

func newFlagSet(c *command, o *options) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed by run, help by printCommandUsage
	fs.BoolVar(&o.json, "json", false, "write JSON for scripts instead of text (see 'gecaso -h')")
	fs.StringVar(&o.prefix, "prefix", "", "the storage prefix of a Redis target (redis.WithPrefix)")
	if c.flags != nil {
		c.flags(fs, o)
	}
	return fs
}

func printCommandUsage(w io.Writer, c *command) {
	fmt.Fprintf(w, "Usage: gecaso %s [flags] %s\n\n%s\n\nFlags:\n", c.name, c.synopsis, strings.TrimSpace(c.details))
	fs := newFlagSet(c, &options{})
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprint(w, targetHelp)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

const targetHelp = `
TARGET is a Badger directory, which must exist, or a Redis server:
redis://[user:password@]host:port[/db], or host:port,host:port,... after
redis:// for a Cluster (rediss:// for TLS). The password may also come from
the REDISCLI_AUTH environment variable.
`

var mainUsage = func() string {
	var b strings.Builder
	b.WriteString(`gecaso inspects, verifies, purges, collects and moves the entries of a
gecaso cache kept in a Badger directory or on Redis.

Usage: gecaso COMMAND [flags] ARGUMENTS

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-7s %-17s %s\n", c.name, c.synopsis, c.summary)
	}
	b.WriteString(targetHelp)
	b.WriteString(`
Flags of every command:
  -json          write JSON for scripts: ls writes one JSON object per line,
                 the other commands one JSON document
  -prefix P      the storage prefix of a Redis target (redis.WithPrefix)

Exit status: 0 on success, 1 on an error or when verify finds corrupt
entries, 2 for a mistake in the command line. Run 'gecaso COMMAND -h' for a
command's details, and 'go doc github.com/gecaso/gecaso/cmd/gecaso' for the
whole manual.
`)
	return b.String()
}()
