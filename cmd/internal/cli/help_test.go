package cli

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func testFlags(stderr io.Writer) (*flag.FlagSet, *time.Duration, *bool) {
	fs := NewFlagSet("prog sub", Help{Usage: "prog sub [-f] [--timeout D] [ID]", Summary: "does sub things"}, stderr)
	d := fs.Duration("timeout", time.Second, "how long to wait")
	f := fs.Bool("f", false, "follow")
	return fs, d, f
}

// TestParseHelp: -h and --help print the usage on stdout and end with exit 0; a flag mistake
// prints it on stderr and ends with exit 2.
func TestParseHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help"} {
		var out, errOut bytes.Buffer
		fs, _, _ := testFlags(&errOut)
		err := Parse(fs, []string{arg}, 0, &out)
		if !errors.Is(err, flag.ErrHelp) || ExitCode("prog", err, io.Discard) != 0 {
			t.Errorf("Parse(%s) = %v, want flag.ErrHelp and exit 0", arg, err)
		}
		if s := out.String(); !strings.HasPrefix(s, "usage:\n  prog sub [-f]") || !strings.Contains(s, "does sub things") || !strings.Contains(s, "-timeout duration") || errOut.Len() != 0 {
			t.Errorf("Parse(%s) printed %q on stdout and %q on stderr", arg, s, errOut.String())
		}
	}
	var out, errOut bytes.Buffer
	fs, _, _ := testFlags(&errOut)
	err := Parse(fs, []string{"--nope"}, 0, &out)
	if ExitCode("prog", err, io.Discard) != 2 || out.Len() != 0 || !strings.Contains(errOut.String(), "-nope") || !strings.Contains(errOut.String(), "usage:") {
		t.Errorf("Parse(--nope) = %v; stdout %q, stderr %q", err, out.String(), errOut.String())
	}
}

// TestParseAll: flags may follow the positional arguments; "--" ends the flags.
func TestParseAll(t *testing.T) {
	fs, d, f := testFlags(io.Discard)
	pos, err := ParseAll(fs, []string{"m1", "--timeout", "3s", "x", "-f", "--", "-y"}, io.Discard)
	if err != nil || !slices.Equal(pos, []string{"m1", "x", "-y"}) || *d != 3*time.Second || !*f {
		t.Errorf("ParseAll = %q, %v; timeout %v, f %v", pos, err, *d, *f)
	}
}

// TestRoff: a page lists every command's usage in the synopsis and its help verbatim, with
// roff's special characters escaped.
func TestRoff(t *testing.T) {
	run := func(args []string, stdout, stderr io.Writer) error {
		fs, _, _ := testFlags(stderr)
		return Parse(fs, args[1:], 0, stdout)
	}
	sec, err := CommandHelp(run, "sub")
	if err != nil {
		t.Fatal(err)
	}
	p := Page{Name: "prog", Summary: "a test program", Description: "First.\n\n.Second with a \\ backslash.", Commands: []Section{sec}, Exit: "0 done.", SeeAlso: "other(1)"}.Roff()
	for _, want := range []string{".TH PROG 1 ", ".SH NAME\nprog \\- a test program\n", ".SH SYNOPSIS\n.nf\nprog sub [\\-f] [\\-\\-timeout D] [ID]\n.fi\n",
		".SS prog sub\n.nf\nusage:\n", "\\e backslash", "\\-timeout duration", ".SH EXIT STATUS\n0 done.\n", ".SH SEE ALSO\nother(1)\n"} {
		if !strings.Contains(p, want) {
			t.Errorf("page lacks %q:\n%s", want, p)
		}
	}
	if _, err := CommandHelp(func([]string, io.Writer, io.Writer) error { return errors.New("boom") }, "x"); err == nil {
		t.Error("CommandHelp of a command that fails = nil error")
	}
}
