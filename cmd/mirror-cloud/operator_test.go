package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/sqlite"
	"github.com/fitmirror/fitmirror/cmd/internal/cli"
)

// operator add prints a generated password once (or takes one from standard input), ls lists
// the operators, passwd and remove change them; mistakes are named.
func TestOperatorCommands(t *testing.T) {
	state := t.TempDir()
	cloud := func(in string, args ...string) (string, error) {
		stdin = strings.NewReader(in)
		t.Cleanup(func() { stdin = nil })
		var out, errb bytes.Buffer
		err := run(context.Background(), append(args, "--set", "state_dir="+state), &out, &errb)
		return out.String() + errb.String(), err
	}
	out, err := cloud("", "operator", "add", "ada", "--role", "admin")
	pw := regexp.MustCompile(`(?m)^password: (\S+)$`).FindStringSubmatch(out)
	if err != nil || pw == nil || len(pw[1]) < 20 || !strings.Contains(out, "shown once") {
		t.Fatalf("operator add = %v, %q; want a generated password", err, out)
	}
	if out, err = cloud("a-chosen-password-42\n", "operator", "add", "otto", "--role=operator", "--password-stdin"); err != nil || strings.Contains(out, "a-chosen") {
		t.Fatalf("operator add --password-stdin = %v, %q", err, out)
	}
	for _, bad := range []struct {
		in   string
		args []string
		want string
	}{
		{"", []string{"operator", "add", "ada", "--role", "viewer"}, `operator "ada" exists already`},
		{"", []string{"operator", "add", "eve", "--role", "root"}, `operator role "root": want viewer, operator or admin`},
		{"", []string{"operator", "add", "Eve!", "--role", "viewer"}, `operator name "Eve!"`},
		{"", []string{"operator", "add", "eve"}, "--role is required"},
		{"short\n", []string{"operator", "add", "eve", "--role", "viewer", "--password-stdin"}, "password: at least 12 characters"},
		{"", []string{"operator", "add", "eve", "--role", "viewer", "--password-stdin"}, "standard input has no password"},
		{"", []string{"operator", "remove", "nobody"}, `no operator "nobody"`},
		{"", []string{"operator", "passwd", "nobody"}, `no operator "nobody"`},
	} {
		out, err := cloud(bad.in, bad.args...)
		if err == nil || !strings.Contains(err.Error()+out, bad.want) {
			t.Errorf("%v = %v, %q; want %q", bad.args, err, out, bad.want)
		}
	}
	if _, err := cloud("", "operator", "frobnicate"); cli.ExitCode("mirror-cloud", err, &bytes.Buffer{}) != 2 {
		t.Errorf("operator frobnicate: %v, want a usage error", err)
	}
	out, err = cloud("", "operator", "ls")
	if err != nil || !regexp.MustCompile(`(?m)^ada\s+admin\s+\d{4}-`).MatchString(out) || !regexp.MustCompile(`(?m)^otto\s+operator\s`).MatchString(out) {
		t.Errorf("operator ls = %v, %q", err, out)
	}
	if out, err = cloud("", "operator", "passwd", "ada"); err != nil || !strings.Contains(out, "password: ") {
		t.Errorf("operator passwd = %v, %q", err, out)
	}
	newPW := regexp.MustCompile(`(?m)^password: (\S+)$`).FindStringSubmatch(out)
	if out, err = cloud("", "operator", "remove", "otto"); err != nil || !strings.Contains(out, "removed operator otto") {
		t.Errorf("operator remove = %v, %q", err, out)
	}
	st, err := sqlite.Open(filepath.Join(state, "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ops, _ := st.Operators(t.Context())
	if len(ops) != 1 || ops[0].Name != "ada" || strings.Contains(ops[0].Hash, newPW[1]) || !strings.HasPrefix(ops[0].Hash, "$2") {
		t.Errorf("operators = %+v, want ada with a bcrypt hash", ops)
	}
}

// The console's and the alerts' keys are checked: a console listener of its own, an alert
// webhook URL, its format, a DingTalk secret only for DingTalk, the e-mail's server and
// addresses, and alerts only with a console; the secrets are not printed.
func TestConsoleConfigChecked(t *testing.T) {
	for _, tt := range []struct{ set, want string }{
		{"console.listen=127.0.0.1:8090", "console.listen: 127.0.0.1:8090 is taken"},
		{"console.listen=nohost", "console.listen"},
		{"alerts.webhook_url=ftp://x/y", "alerts.webhook_url: not an http(s) URL"},
		{"alerts.format=slack", "alerts.format"},
		{"alerts.after=1s", "alerts.after"},
		{"alerts.smtp.addr=smtp.example.com", "alerts.smtp.addr: want host:port"},
		{"alerts.smtp.addr=smtp.example.com:587", "alerts.smtp.from: required"},
		{"alerts.smtp.to=ops@chain.example", "alerts.smtp.addr: required"},
		{"alerts.smtp.tls=ssl", "alerts.smtp.tls"},
		{"alerts.dingtalk_secret=SECabc", "alerts.dingtalk_secret: signs a DingTalk robot's requests"},
	} {
		var out bytes.Buffer
		sets := []string{"listen=127.0.0.1:8090", tt.set}
		err := run(context.Background(), []string{"config", "--set", sets[0], "--set", sets[1]}, &out, &out)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("--set %s: %v, want %q", tt.set, err, tt.want)
		}
	}
	var out bytes.Buffer
	err := run(context.Background(), []string{"config", "--set", "console.listen=", "--set", "alerts.webhook_url=https://h.example/x"}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "set console.listen") {
		t.Errorf("alerts without the console: %v", err)
	}
	out.Reset()
	err = run(context.Background(), []string{"config", "--set", "console.listen=", "--set", "alerts.smtp.addr=smtp.example.com:587"}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "alerts.smtp.addr: alerts come from the console") {
		t.Errorf("e-mail alerts without the console: %v", err)
	}
	out.Reset()
	err = run(context.Background(), []string{"config", "--set", "alerts.webhook_url=https://oapi.dingtalk.com/robot/send?access_token=TOKEN", "--set", "alerts.format=dingtalk",
		"--set", "alerts.dingtalk_secret=SECSIGNINGSECRET", "--set", "alerts.smtp.addr=smtp.example.com:465", "--set", "alerts.smtp.tls=tls",
		"--set", "alerts.smtp.from=hub@chain.example", "--set", "alerts.smtp.to=ops@chain.example,boss@chain.example",
		"--set", "alerts.smtp.username=hub", "--set", "alerts.smtp.password=SMTPPASSWORD"}, &out, &out)
	if err != nil || strings.Contains(out.String(), "TOKEN") || strings.Contains(out.String(), "SECSIGNINGSECRET") || strings.Contains(out.String(), "SMTPPASSWORD") ||
		!strings.Contains(out.String(), "boss@chain.example") {
		t.Errorf("config with a signed DingTalk robot and e-mail = %v:\n%s\nwant the secrets hidden, the recipients shown", err, out.String())
	}
	out.Reset()
	err = run(context.Background(), []string{"config", "--set", "alerts.webhook_url=https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRET", "--set", "alerts.format=wecom"}, &out, &out)
	if err != nil || strings.Contains(out.String(), "SECRET") || !strings.Contains(out.String(), "listen: 127.0.0.1:8091") {
		t.Errorf("config with a robot webhook = %v:\n%s\nwant the URL hidden and the console on 127.0.0.1:8091", err, out.String())
	}
}
