package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/fitmirror/fitmirror/cmd/internal/cli"
)

// TestHelpAndVersion: -h and --help on mirror-cloud and on each of its commands print that
// command's usage on stdout and exit 0, as do --version and version (issue #24).
func TestHelpAndVersion(t *testing.T) {
	type tc struct {
		want string
		args []string
	}
	var cases []tc
	for want, args := range map[string][]string{"usage:\n  mirror-cloud serve": {"-h"}, "usage:\n  mirror-cloud serve ": {"--help"}} {
		cases = append(cases, tc{want, args})
	}
	for _, c := range cmdOrder {
		want := "usage:\n  " + strings.SplitN(helps[c].Usage, "\n", 2)[0]
		w := strings.Fields(c)
		for _, args := range [][]string{append(w, "-h"), append(w, "--help"), append([]string{"help"}, w...)} {
			cases = append(cases, tc{want, args})
		}
	}
	cases = append(cases, tc{"usage:\n  mirror-cloud device add", []string{"device", "-h"}},
		tc{"usage:\n  mirror-cloud device add ID", []string{"device", "add", "m1", "--help"}})
	for _, c := range cases {
		want, args := c.want, c.args
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, &out, &errOut)
		if code := cli.ExitCode("mirror-cloud", err, &errOut); code != 0 || !strings.HasPrefix(out.String(), want) || errOut.Len() != 0 {
			t.Errorf("mirror-cloud %v: exit %d, stdout %q, stderr %q; want 0 and %q on stdout", args, code, out.String(), errOut.String(), want)
		}
	}
	for _, args := range [][]string{{"--version"}, {"version"}, {"-version"}} {
		var out bytes.Buffer
		if err := run(context.Background(), args, &out, &out); err != nil || strings.TrimSpace(out.String()) != cloudVersion() {
			t.Errorf("mirror-cloud %v = %v, %q", args, err, out.String())
		}
	}
}

// TestManPageIsCurrent: docs/man/mirror-cloud.1 is what help --man prints (make man), with a
// section for every command.
func TestManPageIsCurrent(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"help", "--man"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile("../../docs/man/mirror-cloud.1")
	if err != nil || string(have) != out.String() {
		t.Errorf("docs/man/mirror-cloud.1 is missing or out of date (%v): run make man", err)
	}
	for _, c := range cmdOrder {
		if !strings.Contains(out.String(), ".SS mirror\\-cloud "+strings.ReplaceAll(c, "-", "\\-")+"\n") {
			t.Errorf("mirror-cloud(1) has no section for %s", c)
		}
	}
}
