package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Help is what a command's -h and --help print (on stdout, exit 0), and what its man page
// says about it: the usage lines (each the whole command line, program name first) and a
// summary. The flags come from the command's own flag set, so help and man page cannot
// drift from what the command accepts.
type Help struct {
	Usage   string
	Summary string
}

// NewFlagSet returns the flag set of the command name (e.g. "mirror-agent check"): its
// errors go to stderr, and its usage, on -h, --help or a flag mistake, is h with the flags.
func NewFlagSet(name string, h Help, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { WriteHelp(fs.Output(), fs, h) }
	return fs
}

// WriteHelp writes h and the flags of fs to w.
func WriteHelp(w io.Writer, fs *flag.FlagSet, h Help) {
	fmt.Fprintln(w, "usage:")
	for _, l := range strings.Split(strings.TrimSpace(h.Usage), "\n") {
		fmt.Fprintf(w, "  %s\n", strings.TrimSpace(l))
	}
	if h.Summary != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(h.Summary))
	}
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n == 0 {
		return
	}
	fmt.Fprintln(w, "\nflags:")
	out := fs.Output()
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(out)
}

// Parse parses args into fs and allows at most maxArgs positional arguments; a further one
// is reported on fs's output and returns ErrUsage. On -h or --help it writes the command's
// usage to stdout and returns flag.ErrHelp, which [ExitCode] turns into 0.
func Parse(fs *flag.FlagSet, args []string, maxArgs int, stdout io.Writer) error {
	if err := parseHelp(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > maxArgs {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(maxArgs))
		return ErrUsage
	}
	return nil
}

// ParseAll parses args into fs with the flags anywhere among the positional arguments
// (mirrorctl events m1 --timeout 3s): everything after "--" is positional. It returns the
// positional arguments; on -h or --help it writes the usage to stdout and returns
// flag.ErrHelp.
func ParseAll(fs *flag.FlagSet, args []string, stdout io.Writer) ([]string, error) {
	var pos []string
	for {
		if err := parseHelp(fs, args, stdout); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// parseHelp is fs.Parse with the usage sent to stdout when it was asked for and to fs's
// output after a mistake.
func parseHelp(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	errOut := fs.Output()
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	fs.SetOutput(errOut)
	if errors.Is(err, flag.ErrHelp) {
		stdout.Write(buf.Bytes())
		return err
	}
	errOut.Write(buf.Bytes())
	if err != nil { // flag has said what is wrong, and shown the usage
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	return nil
}

// IsHelp says whether arg, a program's first argument, asks for help (-h, -help, --help).
func IsHelp(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }

// IsVersion says whether arg, a program's first argument, asks for the version (-version,
// --version).
func IsVersion(arg string) bool { return arg == "-version" || arg == "--version" }
