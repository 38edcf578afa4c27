package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/fitmirror/fitmirror/cmd/internal/cli"
)

// TestHelpAndVersion: -h and --help on mirror-agent and on each of its commands print that
// command's usage on stdout and exit 0, as do --version and version (issue #24).
func TestHelpAndVersion(t *testing.T) {
	type tc struct {
		want string
		args []string
	}
	var cases []tc
	for want, args := range map[string][]string{"usage:\n  mirror-agent [run]": {"-h"}, "usage:\n  mirror-agent [run] ": {"--help"}} {
		cases = append(cases, tc{want, args})
	}
	for _, c := range cmdOrder {
		want := "usage:\n  " + strings.SplitN(helps[c].Usage, "\n", 2)[0]
		for _, args := range [][]string{{c, "-h"}, {c, "--help"}, {"help", c}} {
			cases = append(cases, tc{want, args})
		}
	}
	for _, c := range cases {
		want, args := c.want, c.args
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, &out, &errOut)
		if code := cli.ExitCode("mirror-agent", err, &errOut); code != 0 || !strings.HasPrefix(out.String(), want) || errOut.Len() != 0 {
			t.Errorf("mirror-agent %v: exit %d, stdout %q, stderr %q; want 0 and %q on stdout", args, code, out.String(), errOut.String(), want)
		}
	}
	for _, args := range [][]string{{"--version"}, {"version"}, {"-version"}} {
		var out bytes.Buffer
		if err := run(context.Background(), args, &out, &out); err != nil || strings.TrimSpace(out.String()) != agentVersion() {
			t.Errorf("mirror-agent %v = %v, %q", args, err, out.String())
		}
	}
}

// TestManPageIsCurrent: docs/man/mirror-agent.1 is what help --man prints (make man), with a
// section for every command.
func TestManPageIsCurrent(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"help", "--man"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile("../../docs/man/mirror-agent.1")
	if err != nil || string(have) != out.String() {
		t.Errorf("docs/man/mirror-agent.1 is missing or out of date (%v): run make man", err)
	}
	for _, c := range cmdOrder {
		if !strings.Contains(out.String(), ".SS mirror\\-agent "+strings.ReplaceAll(c, "-", "\\-")+"\n") { // roff escapes -
			t.Errorf("mirror-agent(1) has no section for %s", c)
		}
	}
}
