package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/fitmirror/fitmirror/cloud/fleet/broker"
	"github.com/fitmirror/fitmirror/cloud/fleet/mosquittotest"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// openPTY opens a pseudo-terminal: its master (what a terminal emulator reads) and its slave
// (the terminal mirrorctl writes to).
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	var unlock, n int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatalf("unlockpt: %v", e)
	}
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatalf("ptsname: %v", e)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open the pty's slave: %v", err)
	}
	t.Cleanup(func() { slave.Close(); master.Close() })
	return master, slave
}

// On a terminal top redraws its table every --interval (clearing the screen with its own
// escape, the mirrors' strings still escaped) until interrupted; /dev/null is no terminal.
func TestTopRedrawsOnATerminal(t *testing.T) {
	if f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0); err == nil {
		if isTerminal(f) {
			t.Error("/dev/null is taken for a terminal: top would redraw into it forever")
		}
		f.Close()
	}
	b := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{"m2": "pw-m2", broker.OpsUser: "pw-ops"}})
	publish := fakeMirror(t, b)
	publish("mirror/m2/status", true, wire.Status{State: wire.StateOnline, Version: "2.0\x1b]0;owned\x07", Since: wire.Time{Time: time.Now()}})
	master, slave := openPTY(t)
	if !isTerminal(slave) {
		t.Fatal("a pty is not taken for a terminal")
	}
	var mu sync.Mutex
	var screen bytes.Buffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var errOut bytes.Buffer
	c := &app{out: slave, subscribed: func([]string) { publish("mirror/m2/telemetry", false, hostileTelemetry()) }}
	code := c.run(ctx, []string{"--broker", b.URL(), "--password", "pw-ops", "top", "--interval", "200ms"}, &errOut)
	if code != 0 {
		t.Fatalf("top on a terminal = %d %q", code, errOut.String())
	}
	time.Sleep(200 * time.Millisecond) // the last redraw on its way through the pty
	mu.Lock()
	out := screen.String()
	mu.Unlock()
	redraws := strings.Count(out, "\x1b[H\x1b[2J")
	if redraws < 3 || strings.Count(out, "MIRROR") != redraws {
		t.Errorf("%d clear-screens and %d headers in 2 s at 200 ms, want several tables each after a clear:\n%q", redraws, strings.Count(out, "MIRROR"), out)
	}
	rest := strings.ReplaceAll(out, "\x1b[H\x1b[2J", "")
	if rawControls(rest) || !strings.Contains(rest, `2.0\x1b]0;owned\x07`) || !strings.Contains(rest, "14.5") {
		t.Errorf("the tables show the mirror's strings raw, or lack m2's telemetry: %q", rest)
	}
}
