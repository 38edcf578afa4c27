package store

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/internal/testexec"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
)

const openSessionEnv = "FITMIRROR_STORE_OPEN_SESSION_CHILD"

// openSessionChild opens a session with a bound and an unbound photo, says READY and waits
// to be killed.
func openSessionChild(dir string) {
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
	t := time.Now().Add(-time.Minute)
	for _, id := range []string{"BOUND", "UNBOUND"} {
		photos.Put(id, []byte("jpeg "+id))
	}
	for _, ev := range []session.Event{
		{Type: wire.EventSessionOpened, At: t, SessionID: "S1"},
		{Type: wire.EventPhotoCaptured, At: t.Add(time.Second), SessionID: "S1", PhotoID: "BOUND"},
		{Type: wire.EventPhotoCaptured, At: t.Add(2 * time.Second), SessionID: "S1", PhotoID: "UNBOUND"},
		{Type: wire.EventPhotoBound, At: t.Add(5 * time.Second), SessionID: "S1", PhotoID: "BOUND", Data: map[string]any{"event": "SCAN"}},
	} {
		if _, err := db.Append(ctx, ev); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
	}
	os.Stdout.WriteString("READY\n")
	select {}
}

// A mirror killed (SIGKILL) while a shopper's session is open: the next start closes the
// session with reason "restart" and a session.closed event (once), and purges its unscanned
// photo as before; the scanned one stays.
func TestSessionOpenAtCrashClosedOnStart(t *testing.T) {
	dir := t.TempDir()
	cmd := testexec.Command(os.Args[0], "-test.run=^$") // through qemu when the suite runs emulated
	cmd.Env = append(os.Environ(), openSessionEnv+"="+dir)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if sc := bufio.NewScanner(out); !sc.Scan() || sc.Text() != "READY" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child did not get ready: %q", sc.Text())
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	ctx := context.Background()
	db := openTestDB(t, dir)
	photos, err := OpenPhotos(filepath.Join(dir, "photos"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	j := NewJanitor(JanitorOptions{DB: db, Photos: photos, Retention: 24 * time.Hour, Now: func() time.Time { return now },
		FreeMB: func() (int, error) { return 10_000, nil }})
	for i := 0; i < 2; i++ { // a second start finds nothing more to close
		if err := j.Startup(ctx); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := db.Pending(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var closed []wire.Event
	purged := map[string]bool{}
	for _, e := range evs {
		switch e.Type {
		case wire.EventSessionClosed:
			closed = append(closed, e)
		case wire.EventPhotoPurged:
			purged[e.PhotoID] = true
		}
	}
	if len(closed) != 1 {
		t.Fatalf("session.closed events: %d, want 1", len(closed))
	}
	var data struct {
		Reason     string `json:"reason"`
		Photos     int    `json:"photos"`
		DurationMS int64  `json:"duration_ms"`
	}
	json.Unmarshal(closed[0].Data, &data)
	if closed[0].SessionID != "S1" || data.Reason != "restart" || data.Photos != 2 || data.DurationMS != 5000 {
		t.Errorf("session.closed = %+v %s, want S1, reason restart, 2 photos, 5000 ms to its last event", closed[0], closed[0].Data)
	}
	var closedAt *int64
	var reason *string
	db.db.QueryRow(`SELECT closed_at, reason FROM sessions WHERE id = 'S1'`).Scan(&closedAt, &reason)
	if closedAt == nil || reason == nil || *reason != "restart" {
		t.Errorf("sessions row: closed_at %v reason %v, want set and restart", closedAt, reason)
	}
	if !purged["UNBOUND"] || purged["BOUND"] {
		t.Errorf("purged %v, want only the unscanned photo", purged)
	}
	if _, err := os.Stat(filepath.Join(photos.Dir(), "UNBOUND.jpg")); !os.IsNotExist(err) {
		t.Errorf("the unscanned photo's file is still there: %v", err)
	}
	// The analytics count the session as ended.
	if open, _ := db.OpenSessions(ctx); len(open) != 0 {
		t.Errorf("open sessions after start: %+v", open)
	}
}

// The mirror's database and its -wal and -shm files are private to the service user.
func TestDatabaseFilesArePrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mirror.db")
	db, err := OpenDB(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Append(context.Background(), session.Event{Type: wire.EventSessionOpened, At: time.Now(), SessionID: "S"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(p), err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s is %v, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
}
