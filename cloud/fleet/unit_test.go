package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
	"github.com/fitmirror/fitmirror/session/store"
)

// The session store is the outbox the agent gives the client.
var (
	_ Outbox  = (*store.DB)(nil)
	_ Trimmer = (*store.DB)(nil)
)

func TestSeenSetBounded(t *testing.T) {
	s := newSeenSet(3)
	var fresh []bool
	for _, k := range []string{"a", "b", "a", "c", "d", "a", "d"} {
		fresh = append(fresh, s.add(k))
	}
	// "a" is forgotten once d pushed it out of the last 3.
	want := []bool{true, true, false, true, true, true, false}
	if diff := cmp.Diff(want, fresh); diff != "" {
		t.Errorf("add results (-want +got):\n%s", diff)
	}
	for i := 0; i < 1000; i++ {
		s.add(fmt.Sprint(i))
	}
	if n := s.len(); n != 3 {
		t.Errorf("len after 1000 keys = %d, want 3", n)
	}
}

func TestRequestLogBounded(t *testing.T) {
	l := newRequestLog(2)
	for i := 0; i < 100; i++ {
		r, first := l.begin(fmt.Sprint(i))
		if !first {
			t.Fatalf("begin(%d) not first", i)
		}
		l.finish(r, wire.CommandResult{ID: fmt.Sprint(i), OK: true})
	}
	if n := l.len(); n != 2 {
		t.Errorf("len = %d, want 2", n)
	}
	if r, first := l.begin("99"); first || r.result.ID != "99" {
		t.Errorf("begin(99) = %+v, %v; want the remembered result", r.result, first)
	}
}

func TestFlatten(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: `{}`},
		{in: `null`},
		{in: `{"presence":{"enter_dwell":"1s","exit_grace":"3s"},"session":{"countdown":3,"auto_capture":false}}`,
			want: []string{"presence.enter_dwell=1s", "presence.exit_grace=3s", "session.auto_capture=false", "session.countdown=3"}},
		{in: `{"camera":{"tags":["a","b"]}}`, want: []string{`camera.tags=["a","b"]`}},
		{in: `{"cloud":{"local":{"public_url":"http://x:8081/a=b"}}}`, want: []string{"cloud.local.public_url=http://x:8081/a=b"}},
		{in: `{"presence":{"enter_dwell":null}}`, wantErr: "presence.enter_dwell: null is not a value"},
		{in: `{"a.b":1}`, wantErr: `"a.b": not a configuration key`},
		{in: `[1]`, wantErr: "config must be a JSON object"},
	}
	for _, tc := range tests {
		got, err := Flatten(json.RawMessage(tc.in))
		if tc.wantErr != "" {
			if err == nil || !contains(err.Error(), tc.wantErr) {
				t.Errorf("Flatten(%s) error = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("Flatten(%s): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Flatten(%s) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestUnflattenRoundTrip(t *testing.T) {
	base := json.RawMessage(`{"presence":{"exit_grace":"3s"},"log":{"level":"debug"}}`)
	got, err := Unflatten(base, []string{"presence.enter_dwell=1s", "log.level=info"})
	if err != nil {
		t.Fatal(err)
	}
	sets, err := Flatten(got)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"log.level=info", "presence.enter_dwell=1s", "presence.exit_grace=3s"}
	if diff := cmp.Diff(want, sets); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"novalue", "=x", "a..b=1"} {
		if _, err := Unflatten(nil, []string{bad}); err == nil {
			t.Errorf("Unflatten(%q) = nil error", bad)
		}
	}
}

func TestOptionsErrors(t *testing.T) {
	tests := []struct {
		o       Options
		wantErr string
	}{
		{Options{DeviceID: "m1"}, "broker URL is required"},
		{Options{Broker: "http://x", DeviceID: "m1"}, "scheme must be"},
		{Options{Broker: "tcp://", DeviceID: "m1"}, "no host"},
		{Options{Broker: "tcp://x:1883", DeviceID: "M1"}, `device ID "M1"`},
	}
	for _, tc := range tests {
		_, err := New(tc.o)
		if err == nil || !contains(err.Error(), tc.wantErr) {
			t.Errorf("New(%+v) = %v, want %q", tc.o, err, tc.wantErr)
		}
	}
	o := Options{Broker: "tcp://x:1883", DeviceID: "m1"}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if o.TopicPrefix != "" || o.Commands != nil {
		t.Errorf("New mutated the caller's options: %+v", o)
	}
	if c.opts.TopicPrefix != "mirror" || c.opts.TelemetryInterval != 30*time.Second || c.opts.ReconnectMax != time.Minute {
		t.Errorf("defaults = prefix %q, telemetry %s, reconnect max %s", c.opts.TopicPrefix, c.opts.TelemetryInterval, c.opts.ReconnectMax)
	}
}

func TestTimeJSON(t *testing.T) {
	b, _ := json.Marshal(wire.Status{State: "online", Since: wire.Time{Time: time.Date(2026, 11, 20, 18, 0, 0, 123456789, time.FixedZone("CST", 8*3600))}})
	if want := `{"state":"online","since":"2026-11-20T10:00:00.123Z"}`; string(b) != want {
		t.Errorf("Status JSON = %s, want %s", b, want)
	}
	var tm wire.Time
	if err := json.Unmarshal([]byte(`"yesterday"`), &tm); err == nil {
		t.Error("Unmarshal(yesterday) = nil error")
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestOutboxBound(t *testing.T) {
	ctx := context.Background()
	db, err := store.OpenDB(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := 0; i < 50; i++ {
		if _, err := db.Append(ctx, session.Event{Type: wire.EventQRShown, At: time.Now(), SessionID: "s", PhotoID: fmt.Sprint("p", i)}); err != nil {
			t.Fatal(err)
		}
	}
	var reported []int
	c, err := New(Options{Broker: "tcp://127.0.0.1:1", DeviceID: "m1", Outbox: db, MaxOutbox: 20,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnDrop: func(_ context.Context, n int) { reported = append(reported, n) }})
	if err != nil {
		t.Fatal(err)
	}
	c.trim(ctx, db)
	c.trim(ctx, db) // nothing more to drop
	if diff := cmp.Diff([]int{30}, reported); diff != "" {
		t.Errorf("OnDrop calls (-want +got):\n%s", diff)
	}
	if c.Dropped() != 30 {
		t.Errorf("Dropped() = %d, want 30", c.Dropped())
	}
	pending, err := db.Pending(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 20 || pending[0].Seq != 31 || pending[19].Seq != 50 {
		t.Errorf("after trimming: %d events, seq %d..%d; want the newest 20 (31..50)", len(pending), pending[0].Seq, pending[len(pending)-1].Seq)
	}
	if tel := c.telemetry(ctx); tel.OutboxDropped != 30 || tel.OutboxDepth != 20 {
		t.Errorf("telemetry outbox_dropped %d, outbox_depth %d; want 30, 20", tel.OutboxDropped, tel.OutboxDepth)
	}
}

func TestSystemSampler(t *testing.T) {
	root := t.TempDir()
	write := func(path, content string) {
		t.Helper()
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stat := func(utime, stime int) string {
		return fmt.Sprintf("4242 (mirror agent) S 1 4242 4242 0 -1 4194560 1000 0 0 0 %d %d 0 0 20 0 12 0 100 1000000 500 18446744073709551615\n", utime, stime)
	}
	write("proc/self/stat", stat(100, 50))
	write("proc/self/statm", "50000 25600 1000 100 0 20000 0\n")
	write("sys/class/thermal/thermal_zone0/type", "acpitz\n")
	write("sys/class/thermal/thermal_zone0/temp", "40000\n")
	write("sys/class/thermal/thermal_zone1/type", "cpu-thermal\n")
	write("sys/class/thermal/thermal_zone1/temp", "51500\n")
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	s := &SystemSampler{StateDir: root, Proc: filepath.Join(root, "proc"), Sys: filepath.Join(root, "sys"), Now: func() time.Time { return now }}

	var tel wire.Telemetry
	s.Fill(&tel)
	if tel.CPUPct != 0 {
		t.Errorf("first CPUPct = %v, want 0", tel.CPUPct)
	}
	// 10 s later the process used 2.5 s of CPU (250 ticks): 25 %.
	now = now.Add(10 * time.Second)
	write("proc/self/stat", stat(300, 100))
	s.Fill(&tel)
	wantRSS := 25600 * float64(os.Getpagesize()) / (1 << 20)
	if tel.CPUPct != 25 || tel.RSSMB != wantRSS || tel.TempC == nil || *tel.TempC != 51.5 || tel.DiskFreeMB <= 0 {
		t.Errorf("Fill = cpu %v rss %v temp %v disk %v; want 25, %v, 51.5 (the cpu zone), > 0", tel.CPUPct, tel.RSSMB, tel.TempC, tel.DiskFreeMB, wantRSS)
	}

	// No thermal zones (a VM): no temperature.
	s.Sys = filepath.Join(root, "nothing")
	tel = wire.Telemetry{}
	s.Fill(&tel)
	if tel.TempC != nil {
		t.Errorf("TempC without thermal zones = %v, want nil", *tel.TempC)
	}
	// The real /proc of this test.
	real := &SystemSampler{StateDir: t.TempDir()}
	tel = wire.Telemetry{}
	real.Fill(&tel)
	if tel.RSSMB <= 0 || tel.DiskFreeMB <= 0 {
		t.Errorf("real Fill: rss %v MB, disk %v MB; want both > 0", tel.RSSMB, tel.DiskFreeMB)
	}
}

// TestSystemSamplerPi: a Raspberry Pi's /sys: the SoC zone found by its type (not zone0), and
// the firmware's throttling flags; without the firmware node there is no throttled field.
func TestSystemSamplerPi(t *testing.T) {
	sys := t.TempDir()
	write := func(path, content string) {
		t.Helper()
		p := filepath.Join(sys, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := &SystemSampler{Sys: sys}
	var tel wire.Telemetry
	s.Fill(&tel)
	if tel.Throttled != nil || tel.TempC != nil {
		t.Errorf("empty /sys: throttled %+v, temp %v; want neither", tel.Throttled, tel.TempC)
	}
	write("class/thermal/thermal_zone0/type", "iwlwifi_1\n")
	write("class/thermal/thermal_zone0/temp", "33000\n")
	write("class/thermal/thermal_zone1/type", "gpu_thermal\n")
	write("class/thermal/thermal_zone1/temp", "45000\n")
	write("class/thermal/thermal_zone2/type", "soc_thermal\n")
	write("class/thermal/thermal_zone2/temp", "61234\n")
	write("devices/platform/soc/soc:firmware/get_throttled", "50005\n")
	s.Fill(&tel)
	if tel.TempC == nil || *tel.TempC != 61.234 {
		t.Errorf("TempC = %v, want 61.234 (soc_thermal)", tel.TempC)
	}
	if tel.Throttled == nil || tel.Throttled.Flags != "0x50005" || !tel.Throttled.Has("under-voltage") {
		t.Errorf("Throttled = %+v, want 0x50005 with under-voltage now", tel.Throttled)
	}
	b, _ := json.Marshal(tel)
	if !strings.Contains(string(b), `"throttled":{"flags":"0x50005","now":["under-voltage","throttled"],"occurred":["under-voltage","throttled"]}`) {
		t.Errorf("telemetry JSON = %s, want the throttled object", b)
	}
	write("devices/platform/soc/soc:firmware/get_throttled", "garbage\n")
	if _, err := FirmwareThrottled(sys)(); err == nil || !strings.Contains(err.Error(), `"garbage" is not hexadecimal`) {
		t.Errorf("FirmwareThrottled(garbage) = %v, want an error naming the value", err)
	}
	if _, err := FirmwareThrottled(t.TempDir())(); !errors.Is(err, ErrNoThrottled) {
		t.Errorf("FirmwareThrottled without the node = %v, want ErrNoThrottled", err)
	}
	// A Pi 5's node carries the bus address; an x86 package zone is the CPU.
	sys5 := t.TempDir()
	sys = sys5
	write("devices/platform/soc@107c000000/soc@107c000000:firmware/get_throttled", "0\n")
	write("class/thermal/thermal_zone0/type", "acpitz\n")
	write("class/thermal/thermal_zone0/temp", "27800\n")
	write("class/thermal/thermal_zone4/type", "x86_pkg_temp\n")
	write("class/thermal/thermal_zone4/temp", "48000\n")
	tel = wire.Telemetry{}
	(&SystemSampler{Sys: sys5}).Fill(&tel)
	if tel.Throttled == nil || tel.Throttled.Flags != "0x0" || tel.TempC == nil || *tel.TempC != 48 {
		t.Errorf("Pi 5 layout: throttled %+v temp %v; want 0x0 and 48 (x86_pkg_temp)", tel.Throttled, tel.TempC)
	}
}

// TestVcgencmdThrottled: where the kernel publishes no get_throttled node, the flags come from
// `vcgencmd get_throttled` (a stand-in script on $PATH, as the Pi's is); its failure (no
// /dev/vcio for the service) is an error that says so, and without vcgencmd it is ErrNoThrottled.
func TestVcgencmdThrottled(t *testing.T) {
	bin := t.TempDir()
	t.Setenv("PATH", bin)
	vcgencmd := func(body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(bin, "vcgencmd"), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	noNode := t.TempDir()
	if _, err := FirmwareThrottled(noNode)(); !errors.Is(err, ErrNoThrottled) {
		t.Errorf("no node, no vcgencmd = %v, want ErrNoThrottled", err)
	}
	vcgencmd(`[ "$1" = get_throttled ] || exit 9; echo throttled=0x50005` + "\n")
	th, err := FirmwareThrottled(noNode)()
	if err != nil || th.Flags != "0x50005" || !th.Has("under-voltage") {
		t.Errorf("vcgencmd throttled=0x50005 = %+v, %v; want under-voltage now", th, err)
	}
	var tel wire.Telemetry
	(&SystemSampler{Sys: noNode}).Fill(&tel)
	if tel.Throttled == nil || tel.Throttled.Flags != "0x50005" {
		t.Errorf("telemetry through vcgencmd: throttled %+v", tel.Throttled)
	}
	vcgencmd("echo 'VCHI initialization failed' >&2; exit 255\n")
	if _, err := FirmwareThrottled(noNode)(); err == nil || errors.Is(err, ErrNoThrottled) || !strings.Contains(err.Error(), "VCHI initialization failed") || !strings.Contains(err.Error(), "/dev/vcio") {
		t.Errorf("vcgencmd failing = %v, want its message and the hint about /dev/vcio", err)
	}
	vcgencmd("echo 'error=1 error_msg=\"Command not registered\"'\n")
	if _, err := FirmwareThrottled(noNode)(); err == nil || !strings.Contains(err.Error(), "not throttled=0x") {
		t.Errorf("vcgencmd answering something else = %v, want an error quoting it", err)
	}
	// The kernel's node wins over vcgencmd.
	node := filepath.Join(noNode, "devices/platform/soc/soc:firmware/get_throttled")
	os.MkdirAll(filepath.Dir(node), 0o755)
	os.WriteFile(node, []byte("0\n"), 0o644)
	if th, err := FirmwareThrottled(noNode)(); err != nil || th.Flags != "0x0" {
		t.Errorf("node and vcgencmd = %+v, %v; want the node's 0x0", th, err)
	}
}
