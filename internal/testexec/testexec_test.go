package testexec

import (
	"os"
	"strings"
	"testing"
)

func TestCommand(t *testing.T) {
	t.Setenv(Env, "")
	if c := Command("/bin/echo", "a", "b"); strings.Join(c.Args, " ") != "/bin/echo a b" {
		t.Errorf("without a runner: %v", c.Args)
	}
	t.Setenv(Env, "/opt/run.sh")
	if c := Command("/tmp/agent", "run"); c.Path != "/opt/run.sh" || strings.Join(c.Args, " ") != "/opt/run.sh /tmp/agent run" {
		t.Errorf("with a runner: path %s args %v", c.Path, c.Args)
	}
	if !Emulated() {
		t.Error("Emulated() = false with a runner set")
	}
	os.Unsetenv(Env)
	if Emulated() {
		t.Error("Emulated() = true without a runner")
	}
}
