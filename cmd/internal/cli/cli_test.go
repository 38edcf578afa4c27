package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"
)

func TestSetFlagsRepeat(t *testing.T) {
	var s SetFlags
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Var(&s, "set", "")
	if err := fs.Parse([]string{"--set", "a=1", "--set", "b.c=2"}); err != nil {
		t.Fatal(err)
	}
	if s.String() != "a=1,b.c=2" {
		t.Errorf("SetFlags = %q, want both in order", s.String())
	}
}

func TestOneLine(t *testing.T) {
	if got := OneLine(errors.New("camera:\n  open  x:\tno such file")); got != "camera: open x: no such file" {
		t.Errorf("OneLine = %q", got)
	}
}

func TestNewLogger(t *testing.T) {
	t.Setenv("JOURNAL_STREAM", "")
	t.Setenv("INVOCATION_ID", "")
	for _, tt := range []struct {
		level, format string
		json          bool
		debug         bool
	}{{"info", "text", false, false}, {"debug", "json", true, true}, {"warn", "auto", false, false}} {
		var b bytes.Buffer
		l := NewLogger(tt.level, tt.format, &b)
		l.Debug("d")
		l.Warn("w", "k", "v")
		out := b.String()
		if strings.HasPrefix(out, "{") != tt.json {
			t.Errorf("NewLogger(%s, %s) wrote %q; json = %v", tt.level, tt.format, out, tt.json)
		}
		if strings.Contains(out, "msg=d") || strings.Contains(out, `"msg":"d"`) {
			if !tt.debug {
				t.Errorf("NewLogger(%s) logged a debug line", tt.level)
			}
		} else if tt.debug {
			t.Errorf("NewLogger(debug) dropped the debug line: %q", out)
		}
	}
	t.Setenv("INVOCATION_ID", "abc")
	var b bytes.Buffer
	NewLogger("info", "auto", &b).Info("x")
	if !strings.HasPrefix(b.String(), "{") {
		t.Errorf("auto under systemd wrote %q, want JSON", b.String())
	}
}

func TestVersion(t *testing.T) {
	if Version("1.2.3") != "1.2.3" || Version("") == "" {
		t.Errorf("Version: set %q, unset %q", Version("1.2.3"), Version(""))
	}
}

func TestExitCode(t *testing.T) {
	for _, tt := range []struct {
		err    error
		code   int
		stderr string
	}{
		{nil, 0, ""},
		{ErrUsage, 2, ""},
		{fmt.Errorf("parse: %w", flag.ErrHelp), 0, ""},
		{errors.New("camera.source: open x:\n no such file"), 1, "mirror-agent: camera.source: open x: no such file\n"},
		{fmt.Errorf("ls: %w", WithCode(3, errors.New("no answer"))), 3, "mirror-agent: ls: no answer\n"},
		{WithCode(2, fmt.Errorf("bad id: %w", ErrUsage)), 2, "mirror-agent: bad id: usage\n"},
	} {
		var b bytes.Buffer
		if code := ExitCode("mirror-agent", tt.err, &b); code != tt.code || b.String() != tt.stderr {
			t.Errorf("ExitCode(%v) = %d, %q; want %d, %q", tt.err, code, b.String(), tt.code, tt.stderr)
		}
	}
}
