package pgtest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/internal/testexec"
)

// A test process that dies without running its cleanups (as when go test's timeout kills
// it) leaves no PostgreSQL server behind: the reaper stops it and removes its files.
func TestServerDiesWithItsTestProcess(t *testing.T) {
	if os.Getenv("PGTEST_CHILD") == "1" {
		s, err := New(Options{NoFsync: true})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Printf("server %d %s\n", s.Port, s.Dir)
		os.Exit(0) // no Close
	}
	cmd := testexec.Command(os.Args[0], "-test.run=^TestServerDiesWithItsTestProcess$") // under qemu too
	cmd.Env = append(os.Environ(), "PGTEST_CHILD=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var port int
	var dir string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if _, err := fmt.Sscanf(sc.Text(), "server %d %s", &port, &dir); err == nil {
			break
		}
		if strings.HasPrefix(sc.Text(), "error") {
			t.Fatal(sc.Text())
		}
	}
	cmd.Wait()
	if port == 0 || !strings.Contains(dir, "pgtest-") {
		t.Fatalf("the child started no server (port %d, dir %q)", port, dir)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		_, statErr := os.Stat(dir)
		if c != nil {
			c.Close()
		}
		if err != nil && os.IsNotExist(statErr) {
			return // stopped and removed
		}
		if time.Now().After(deadline) {
			t.Fatalf("60 s after its test process exited the server on port %d still answers (%v) or %s is still there (%v)", port, err == nil, dir, statErr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
