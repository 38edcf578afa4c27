// Package cli holds what the fitmirror commands share on their command line: the repeatable
// --set flag, one-line errors, the slog logger (text on a terminal, JSON under systemd) and
// the version string.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
)

// SetFlags collects repeated --set key=value flags.
type SetFlags []string

func (s *SetFlags) String() string     { return strings.Join(*s, ",") }
func (s *SetFlags) Set(v string) error { *s = append(*s, v); return nil }

// OneLine folds an error's text onto one line (operators' tools read one line per error).
func OneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }

// NewLogger returns a logger at level ("debug", "info", "warn", "error") writing format "text",
// "json", or "auto": JSON under systemd (whose journal keeps the fields), text otherwise.
func NewLogger(level, format string, w io.Writer) *slog.Logger {
	var l slog.Level
	l.UnmarshalText([]byte(level)) // validated with the configuration; unknown = info
	opts := &slog.HandlerOptions{Level: l}
	json := format == "json"
	if format == "auto" {
		json = UnderSystemd()
	}
	if json {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// UnderSystemd reports whether the process runs as a systemd service.
func UnderSystemd() bool {
	return os.Getenv("JOURNAL_STREAM") != "" || os.Getenv("INVOCATION_ID") != ""
}

// Version is the build's version: set (with -ldflags "-X main.version=…"), else the module
// version the binary was built from, else "dev".
func Version(set string) string {
	if set != "" {
		return set
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// ErrUsage marks a command-line mistake (the commands exit 2 for it).
var ErrUsage = errors.New("usage")

// ExitError ends a command with its own exit status (mirrorctl's 1, 2, 3) and a message.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// WithCode returns err with the exit status code for [ExitCode].
func WithCode(code int, err error) error { return &ExitError{Code: code, Err: err} }

// ExitCode is how a command ends for err: 0 for nil and for flag.ErrHelp (-h or --help
// asked for the usage, which [Parse] has printed); an [ExitError]'s code, its message
// written as below; 2 for a usage mistake (flag has already said what is wrong); 1 for
// anything else, written to stderr as one line prefixed with the command's name.
func ExitCode(name string, err error, stderr io.Writer) int {
	var ee *ExitError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ee):
		fmt.Fprintf(stderr, "%s: %s\n", name, OneLine(err))
		return ee.Code
	case errors.Is(err, ErrUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "%s: %s\n", name, OneLine(err))
		return 1
	}
}
