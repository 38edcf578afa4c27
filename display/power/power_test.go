package power

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// at is a time in the week of Monday 2026-11-16, in UTC.
func at(day int, clock string) time.Time {
	t, err := time.Parse("15:04", clock)
	if err != nil {
		panic(err)
	}
	return time.Date(2026, 11, 16+day, t.Hour(), t.Minute(), 0, 0, time.UTC)
}

func TestHoursOpen(t *testing.T) {
	const (
		mon = iota
		tue
		wed
		thu
		fri
		sat
		sun
	)
	tests := []struct {
		hours string
		t     time.Time
		want  bool
	}{
		{"", at(mon, "03:00"), true},
		{"09:00-21:30", at(mon, "08:59"), false},
		{"09:00-21:30", at(mon, "09:00"), true},
		{"09:00-21:30", at(sun, "21:29"), true},
		{"09:00-21:30", at(sun, "21:30"), false},
		{"mon-fri 09:00-21:00; sat-sun 10:00-22:00", at(fri, "09:30"), true},
		{"mon-fri 09:00-21:00; sat-sun 10:00-22:00", at(sat, "09:30"), false},
		{"mon-fri 09:00-21:00; sat-sun 10:00-22:00", at(sun, "21:30"), true},
		{"fri 18:00-02:00", at(sat, "01:59"), true},
		{"fri 18:00-02:00", at(sat, "02:00"), false},
		{"sun 20:00-01:00", at(mon, "00:30"), true}, // across the end of the week
		{"sun 20:00-01:00", at(mon, "01:00"), false},
		{"sat,sun 10:00-12:00,14:00-18:00", at(sun, "13:00"), false},
		{"sat,sun 10:00-12:00,14:00-18:00", at(sun, "15:00"), true},
		{"fri-mon 10:00-11:00", at(mon, "10:30"), true},
		{"fri-mon 10:00-11:00", at(tue, "10:30"), false},
		{"00:00-24:00", at(wed, "23:59"), true},
	}
	for _, tt := range tests {
		h, err := ParseHours(tt.hours)
		if err != nil {
			t.Fatalf("ParseHours(%q): %v", tt.hours, err)
		}
		if got := h.Open(tt.t); got != tt.want {
			t.Errorf("ParseHours(%q).Open(%s) = %v, want %v", tt.hours, tt.t.Format("Mon 15:04"), got, tt.want)
		}
	}
}

func TestHoursNext(t *testing.T) {
	tests := []struct {
		hours string
		t     time.Time
		want  time.Time
	}{
		{"09:00-21:30", at(0, "08:59"), at(0, "09:00")},
		{"09:00-21:30", at(0, "12:00"), at(0, "21:30")},
		{"09:00-21:30", at(6, "22:00"), at(7, "09:00")},
		{"mon-fri 09:00-21:00", at(4, "21:00"), at(7, "09:00")},
		{"fri 18:00-02:00", at(4, "19:00"), at(5, "02:00")},
		{"09:00-12:00,12:00-18:00", at(0, "10:00"), at(0, "18:00")}, // back to back spans: no change at 12:00
		{"00:00-24:00", at(0, "10:00"), time.Time{}},
		{"", at(0, "10:00"), time.Time{}},
	}
	for _, tt := range tests {
		h, err := ParseHours(tt.hours)
		if err != nil {
			t.Fatal(err)
		}
		if got := h.Next(tt.t.Add(17 * time.Second)); !got.Equal(tt.want) {
			t.Errorf("ParseHours(%q).Next(%s) = %v, want %v", tt.hours, tt.t.Format("Mon 15:04"), got, tt.want)
		}
	}
}

func TestParseHoursErrors(t *testing.T) {
	for _, s := range []string{"9-21", "09:00", "09:00-09:00", "25:00-26:00", "09:60-10:00", "mon-fry 09:00-10:00",
		"mon 09:00-10:00 extra", ";", "monday 09:00-10:00", "09:00-24:01"} {
		if _, err := ParseHours(s); err == nil {
			t.Errorf("ParseHours(%q) = nil error, want one", s)
		} else if !strings.HasPrefix(err.Error(), "hours ") {
			t.Errorf("ParseHours(%q) = %v, want an error naming the hours", s, err)
		}
	}
}

// fakePanel records switches at the bubble's time and fails the first fails calls.
type fakePanel struct {
	mu    sync.Mutex
	fails int
	log   []string
}

func (f *fakePanel) SetPower(ctx context.Context, on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	state := "off"
	if on {
		state = "on"
	}
	if f.fails > 0 {
		f.fails--
		f.log = append(f.log, time.Now().UTC().Format("Mon 15:04")+" "+state+" failed")
		return errors.New("cec: no adapter")
	}
	f.log = append(f.log, time.Now().UTC().Format("Mon 15:04")+" "+state)
	return nil
}

func (f *fakePanel) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

// TestPolicy runs the policy over fake days: the bubble starts on Saturday 2000-01-01 00:00 UTC.
func TestPolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, err := ParseHours("mon-fri 09:00-21:00; sat-sun 10:00-18:00")
		if err != nil {
			t.Fatal(err)
		}
		panel := &fakePanel{fails: 1}
		p := New(Options{Hours: h, Location: time.UTC, Panel: panel, Retry: 5 * time.Minute,
			Logger: slog.New(slog.DiscardHandler)})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- p.Run(ctx) }()
		time.Sleep(3*24*time.Hour + 12*time.Hour) // to Tuesday noon
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
		want := []string{
			"Sat 00:00 off failed", "Sat 00:05 off", // retried after Options.Retry
			"Sat 10:00 on", "Sat 18:00 off",
			"Sun 10:00 on", "Sun 18:00 off",
			"Mon 09:00 on", "Mon 21:00 off",
			"Tue 09:00 on",
		}
		if diff := cmp.Diff(want, panel.got()); diff != "" {
			t.Errorf("switches (-want +got):\n%s", diff)
		}
	})
}

// TestPolicyOnAtExit: stopped at night, the policy leaves the panel on.
func TestPolicyOnAtExit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, _ := ParseHours("10:00-18:00")
		panel := &fakePanel{}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() {
			done <- New(Options{Hours: h, Location: time.UTC, Panel: panel, Logger: slog.New(slog.DiscardHandler)}).Run(ctx)
		}()
		time.Sleep(time.Hour)
		cancel()
		<-done
		if diff := cmp.Diff([]string{"Sat 00:00 off", "Sat 01:00 on"}, panel.got()); diff != "" {
			t.Errorf("switches (-want +got):\n%s", diff)
		}
	})
}

// fakeTool writes a script that logs its arguments and standard input to a file.
func fakeTool(t *testing.T, name string, fail bool) (path, logFile string) {
	t.Helper()
	dir := t.TempDir()
	path = filepath.Join(dir, name)
	logFile = filepath.Join(dir, "log")
	exit := "0"
	if fail {
		exit = "3"
	}
	script := "#!/bin/sh\necho \"args: $*\" >> " + logFile + "\nif [ \"$1\" = -s ]; then echo \"stdin: $(cat)\" >> " +
		logFile + "; fi\necho 'tool output'\nexit " + exit + "\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, logFile
}

func readLog(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCEC(t *testing.T) {
	tool, log := fakeTool(t, "cec-client", false)
	c := CEC{Path: tool}
	if err := c.SetPower(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	if err := c.SetPower(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	want := "args: -s -d 1\nstdin: standby 0\nargs: -s -d 1\nstdin: on 0\n"
	if got := readLog(t, log); got != want {
		t.Errorf("cec-client calls = %q, want %q", got, want)
	}
	bad, _ := fakeTool(t, "cec-client", true)
	err := CEC{Path: bad}.SetPower(t.Context(), true)
	if err == nil || !strings.Contains(err.Error(), "power: cec:") || !strings.Contains(err.Error(), "tool output") {
		t.Errorf("failing cec-client: SetPower = %v, want an error with its output", err)
	}
}

func TestDPMS(t *testing.T) {
	tool, log := fakeTool(t, "xset", false)
	d := DPMS{Path: tool, Display: ":0"}
	if err := d.SetPower(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	if err := d.SetPower(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	want := "args: -display :0 +dpms dpms force off\nargs: -display :0 dpms force on\nargs: -display :0 -dpms s off\n"
	if got := readLog(t, log); got != want {
		t.Errorf("xset calls = %q, want %q", got, want)
	}
}

func TestDetect(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PATH", dir)
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")
	noSys := t.TempDir()
	Detect := func(method string) (Panel, error) {
		s, err := SessionFrom(filepath.Join(dir, "no-session.env"))
		if err != nil {
			t.Fatal(err)
		}
		return DetectWith(t.Context(), method, DetectOptions{Session: &s, Sys: noSys})
	}
	if p, err := Detect("auto"); p != nil || err != nil {
		t.Errorf("Detect(auto) without tools = %v, %v; want nil, nil (the panel stays on)", p, err)
	}
	if _, err := Detect("cec"); err == nil {
		t.Errorf("Detect(cec) without cec-client = nil error, want one")
	}
	if _, err := Detect("sleep"); err == nil {
		t.Errorf("Detect(sleep) = nil error, want one")
	}
	os.WriteFile(filepath.Join(dir, "xset"), []byte("#!/bin/sh\n"), 0o755)
	if p, err := Detect("auto"); p != nil || err != nil {
		t.Errorf("Detect(auto) with xset but no $DISPLAY = %v, %v; want nil, nil", p, err)
	}
	t.Setenv("DISPLAY", ":0")
	if p, err := Detect("auto"); err != nil || p == nil {
		t.Errorf("Detect(auto) with xset = %v, %v; want DPMS", p, err)
	} else if _, ok := p.(DPMS); !ok {
		t.Errorf("Detect(auto) with xset = %T, want DPMS", p)
	}
	os.WriteFile(filepath.Join(dir, "cec-client"), []byte("#!/bin/sh\n"), 0o755)
	if p, _ := Detect("auto"); p == nil {
		t.Errorf("Detect(auto) with cec-client = nil, want CEC")
	} else if _, ok := p.(CEC); !ok {
		t.Errorf("Detect(auto) with cec-client = %T, want CEC first", p)
	}
}
