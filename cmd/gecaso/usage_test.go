package main

import (
	"strings"
	"testing"
)

func TestUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		give       []string
		wantCode   int
		wantStdout string // a line or words it must contain
		wantStderr string
	}{
		{"help", []string{"-h"}, 0, "Commands:", ""},
		{"help word", []string{"help"}, 0, "Commands:", ""},
		{"help of a command", []string{"help", "purge"}, 0, "Usage: gecaso purge [flags] TARGET NAMESPACE", ""},
		{"command -h", []string{"verify", "-h"}, 0, "-fix", ""},
		{"command -h after arguments", []string{"stats", "somewhere", "-h"}, 0, "Usage: gecaso stats", ""},
		{"no command", nil, 2, "", "Usage: gecaso COMMAND"},
		{"unknown command", []string{"frobnicate", "x"}, 2, "", `unknown command "frobnicate"`},
		{"too few arguments", []string{"get", "dir"}, 2, "", "get takes TARGET KEY, not 1 argument"},
		{"too many arguments", []string{"stats", "a", "b"}, 2, "", "stats takes TARGET, not 2 arguments"},
		{"unknown flag", []string{"stats", "-frob", "dir"}, 2, "", "flag provided but not defined: -frob"},
		{"prefix for badger", []string{"stats", "-prefix", "p:", "/nonexistent"}, 2, "", "-prefix applies to Redis targets only"},
		{"bad redis url", []string{"stats", "redis://127.0.0.1:notaport"}, 2, "", "bad port"},
		{"purge with ':'", []string{"purge", "/nonexistent", "a:b"}, 2, "", "contains ':'"},
		{"purge with empty version", []string{"purge", "/nonexistent", "a@"}, 2, "", "empty version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCmd(t, nil, tt.give...)
			if r.code != tt.wantCode {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.wantCode, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, tt.wantStdout) {
				t.Errorf("stdout does not contain %q:\n%s", tt.wantStdout, r.stdout)
			}
			if !strings.Contains(r.stderr, tt.wantStderr) {
				t.Errorf("stderr does not contain %q:\n%s", tt.wantStderr, r.stderr)
			}
			if tt.wantCode == 0 && r.stderr != "" {
				t.Errorf("stderr is not empty:\n%s", r.stderr)
			}
		})
	}
}

// TestEveryCommandHasHelp checks that each command's -h names it, its
// arguments and the shared flags.
func TestEveryCommandHasHelp(t *testing.T) {
	t.Parallel()
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			r := mustRun(t, c.name, "-h")
			for _, want := range []string{"Usage: gecaso " + c.name + " [flags] " + c.synopsis, "-json", "-prefix", "redis://"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("gecaso %s -h does not mention %q:\n%s", c.name, want, r.stdout)
				}
			}
		})
	}
}
