package store

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/internal/testexec"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
)

// The crash test runs this test binary again as a writer child (TestMain sees the variable),
// kills it with SIGKILL at a random moment, again and again, and then checks that everything
// the child reported as committed is there, whole, and that the database is intact.
const crashEnv = "FITMIRROR_STORE_CRASH_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashEnv); dir != "" {
		crashChild(dir)
		os.Exit(0)
	}
	if dir := os.Getenv(openSessionEnv); dir != "" {
		openSessionChild(dir)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func photoBytes(i int) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("photo %06d|", i)), 2000) // ~26 KB, content tied to i
}

// crashChild writes photos and events as fast as it can, printing "C i" after each commit.
func crashChild(dir string) {
	ctx := context.Background()
	db, err := OpenDB(filepath.Join(dir, "mirror.db"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	photos, err := OpenPhotos(filepath.Join(dir, "photos"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	evs, _ := db.Pending(ctx, 0, 1<<30)
	i := len(evs)
	for {
		id := fmt.Sprintf("P%06d", i)
		if err := photos.Put(id, photoBytes(i)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		if _, err := db.Append(ctx, session.Event{Type: wire.EventPhotoCaptured, At: time.Now(), SessionID: "S", PhotoID: id,
			Data: map[string]any{"i": i}}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		os.Stdout.WriteString("C " + strconv.Itoa(i) + "\n")
		i++
	}
}

func TestCrashSafety(t *testing.T) {
	dir := t.TempDir()
	committed := map[int]bool{}
	const rounds = 12
	for r := 0; r < rounds; r++ {
		cmd := testexec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan int, 1<<16)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "C ")); err == nil {
					lines <- n
				}
			}
			close(lines)
		}()
		// Wait for its first commit (a loaded machine may take seconds to start the child), then
		// let it run for a while, so kills land in every phase: file write, fsync, rename, commit.
		select {
		case n, ok := <-lines:
			if ok {
				committed[n] = true
			}
		case <-time.After(2 * time.Minute):
			cmd.Process.Kill()
			t.Fatalf("round %d: the child committed nothing in 2 minutes: %s", r, stderr.String())
		}
		delay := time.Duration(150+rand.IntN(250)) * time.Millisecond
		if testexec.Emulated() {
			delay *= 20 // under qemu the child needs seconds to start and open the database
		}
		time.Sleep(delay)
		cmd.Process.Signal(syscall.SIGKILL)
		for n := range lines {
			committed[n] = true
		}
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("round %d: child ended by itself (%v): %s", r, err, stderr.String())
		}
	}
	if len(committed) < rounds {
		t.Fatalf("only %d commits in %d rounds: the child did not get going", len(committed), rounds)
	}

	ctx := context.Background()
	db := openTestDB(t, dir)
	var check string
	if err := db.db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v", check, err)
	}
	evs, err := db.Pending(ctx, 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	inDB := map[string]bool{}
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d: seq must have no gaps or repeats", i, e.Seq)
		}
		inDB[e.PhotoID] = true
	}
	photos, err := OpenPhotos(filepath.Join(dir, "photos"))
	if err != nil {
		t.Fatal(err)
	}
	for n := range committed {
		id := fmt.Sprintf("P%06d", n)
		if !inDB[id] {
			t.Errorf("committed photo %s has no event", id)
		}
	}
	// Every recorded photo is on disk, whole.
	for id := range inDB {
		n, _ := strconv.Atoi(strings.TrimPrefix(id, "P"))
		got, err := os.ReadFile(filepath.Join(photos.Dir(), id+".jpg"))
		if err != nil || !bytes.Equal(got, photoBytes(n)) {
			t.Errorf("photo %s: %d bytes, err %v; want it whole", id, len(got), err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(photos.Dir(), ".tmp-*")); len(left) != 0 {
		t.Errorf("temporary files left after reopen: %v", left)
	}
	t.Logf("%d rounds, %d commits, %d events", rounds, len(committed), len(evs))
}
