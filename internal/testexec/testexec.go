// Package testexec starts the programs a test builds for itself (go build, or its own binary
// re-executed). When the test runs under an emulator (make test-arm64 runs the suite with
// go test -exec scripts/arm64-run.sh), those programs are arm64 too and this machine cannot run
// them directly: FITMIRROR_TEST_EXEC then names the runner, and Command goes through it. Host
// programs a test uses (mosquitto, chromium, zbarimg) are started with os/exec as usual.
package testexec

import (
	"context"
	"os"
	"os/exec"
)

// Env is the variable naming the runner (scripts/arm64-run.sh sets it for the programs it runs).
const Env = "FITMIRROR_TEST_EXEC"

// Command is exec.Command for a program the test built, run through the runner when there is one.
func Command(name string, args ...string) *exec.Cmd {
	if r := os.Getenv(Env); r != "" {
		return exec.Command(r, append([]string{name}, args...)...)
	}
	return exec.Command(name, args...)
}

// CommandContext is exec.CommandContext for a program the test built.
func CommandContext(ctx context.Context, name string, args ...string) *exec.Cmd {
	if r := os.Getenv(Env); r != "" {
		return exec.CommandContext(ctx, r, append([]string{name}, args...)...)
	}
	return exec.CommandContext(ctx, name, args...)
}

// Emulated says whether the test runs under an emulator (through a runner).
func Emulated() bool { return os.Getenv(Env) != "" }
