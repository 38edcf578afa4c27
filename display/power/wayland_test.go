package power

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// script writes an executable shell script into dir and returns its path.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// fakeWlrRandr lists two outputs (as wlr-randr 0.2 does) and logs every call with the
// WAYLAND_DISPLAY it ran in.
const fakeWlrRandr = `echo "WAYLAND_DISPLAY=$WAYLAND_DISPLAY args: $*" >> "${0%/*}/log"
if [ $# -eq 0 ]; then
	printf 'HDMI-A-1 "Dell Inc. DELL P2419H (HDMI-A-1)"\n  Enabled: yes\n  Modes:\n    1920x1080 px, 60.000000 Hz (preferred, current)\nDSI-1 "(null) (null) (DSI-1)"\n  Enabled: yes\n'
fi
`

func TestWlrRandr(t *testing.T) {
	dir := t.TempDir()
	w := WlrRandr{Path: script(t, dir, "wlr-randr", fakeWlrRandr), Session: Session{Wayland: "/run/mirror-kiosk/wayland-0"}}
	if err := w.SetPower(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	if err := w.SetPower(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	want := "WAYLAND_DISPLAY=/run/mirror-kiosk/wayland-0 args: \n" +
		"WAYLAND_DISPLAY=/run/mirror-kiosk/wayland-0 args: --output HDMI-A-1 --off --output DSI-1 --off\n" +
		"WAYLAND_DISPLAY=/run/mirror-kiosk/wayland-0 args: \n" +
		"WAYLAND_DISPLAY=/run/mirror-kiosk/wayland-0 args: --output HDMI-A-1 --on --output DSI-1 --on\n"
	if got := readLog(t, filepath.Join(dir, "log")); got != want {
		t.Errorf("wlr-randr calls:\n%s\nwant:\n%s", got, want)
	}
	// A compositor without the protocol (cage 0.1.4): the error says what wlr-randr said.
	bad := WlrRandr{Path: script(t, t.TempDir(), "wlr-randr", "echo \"compositor doesn't support wlr-output-management-unstable-v1\" >&2\nexit 1\n")}
	if err := bad.SetPower(t.Context(), false); err == nil || !strings.Contains(err.Error(), "doesn't support wlr-output-management") {
		t.Errorf("wlr-randr without the protocol: SetPower = %v, want its message", err)
	}
}

func TestWlopm(t *testing.T) {
	dir := t.TempDir()
	w := Wlopm{Path: script(t, dir, "wlopm", `echo "WAYLAND_DISPLAY=$WAYLAND_DISPLAY XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR args: $*" >> "${0%/*}/log"`+"\n"),
		Session: Session{Wayland: "wayland-1", RuntimeDir: "/run/user/1000"}}
	if err := w.SetPower(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	if err := w.SetPower(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	want := "WAYLAND_DISPLAY=wayland-1 XDG_RUNTIME_DIR=/run/user/1000 args: --off *\n" +
		"WAYLAND_DISPLAY=wayland-1 XDG_RUNTIME_DIR=/run/user/1000 args: --on *\n"
	if got := readLog(t, filepath.Join(dir, "log")); got != want {
		t.Errorf("wlopm calls = %q, want %q", got, want)
	}
}

func TestDDC(t *testing.T) {
	dir := t.TempDir()
	d := DDC{Path: script(t, dir, "ddcutil", `echo "args: $*" >> "${0%/*}/log"`+"\n"+
		`[ "$1" = getvcp ] && echo 'VCP code 0xd6 (Power mode                    ): DPM: On,  DPMS: Off (sl=0x01)'`+"\nexit 0\n")}
	if err := d.SetPower(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	if err := d.SetPower(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	if got, err := Probe(t.Context(), d); err != nil || !strings.Contains(got, "DPM: On") {
		t.Errorf("Probe(ddc) = %q, %v; want the power mode", got, err)
	}
	if got, want := readLog(t, filepath.Join(dir, "log")), "args: setvcp d6 4\nargs: setvcp d6 1\nargs: getvcp d6\n"; got != want {
		t.Errorf("ddcutil calls = %q, want %q", got, want)
	}
	two := DDC{Path: d.Path, Display: 2}
	two.SetPower(t.Context(), true)
	if got := readLog(t, filepath.Join(dir, "log")); !strings.HasSuffix(got, "args: --display 2 setvcp d6 1\n") {
		t.Errorf("ddcutil calls for display 2 = %q", got)
	}
}

// backlightTree makes a fake /sys with the official 7" display's backlight and a second one.
func backlightTree(t *testing.T) (sys string, files []string) {
	return backlightTreeIn(t, t.TempDir())
}

// backlightTreeIn makes backlightTree's fake /sys in the directory sys.
func backlightTreeIn(t *testing.T, sys string) (string, []string) {
	var files []string
	for _, name := range []string{"rpi_backlight", "10-0045"} {
		dev := filepath.Join(sys, "devices", "platform", name)
		os.MkdirAll(dev, 0o755)
		os.WriteFile(filepath.Join(dev, "bl_power"), []byte("0\n"), 0o644)
		os.MkdirAll(filepath.Join(sys, "class", "backlight"), 0o755)
		if err := os.Symlink(dev, filepath.Join(sys, "class", "backlight", name)); err != nil {
			t.Fatal(err)
		}
		files = append(files, filepath.Join(dev, "bl_power"))
	}
	return sys, files
}

func TestBacklight(t *testing.T) {
	sys, files := backlightTree(t)
	found, err := Backlights(sys)
	if err != nil || len(found) != 2 {
		t.Fatalf("Backlights = %v, %v; want both bl_power files", found, err)
	}
	b := Backlight{Files: found}
	if err := b.SetPower(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if got := readLog(t, f); got != "4\n" {
			t.Errorf("%s after off = %q, want 4", f, got)
		}
	}
	if got, _ := Probe(t.Context(), b); got != "10-0045 off, rpi_backlight off" {
		t.Errorf("Probe(backlight) = %q", got)
	}
	if err := b.SetPower(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	if got := readLog(t, files[0]); got != "0\n" {
		t.Errorf("bl_power after on = %q, want 0", got)
	}
	err = Backlight{Files: []string{filepath.Join(sys, "gone", "bl_power")}}.SetPower(t.Context(), true)
	if err == nil || !strings.Contains(err.Error(), "power: backlight:") {
		t.Errorf("SetPower on a missing file = %v, want an error naming backlight", err)
	}
}

func TestSessionFrom(t *testing.T) {
	t.Setenv("WAYLAND_DISPLAY", "")
	t.Setenv("DISPLAY", "")
	dir := t.TempDir()
	file := filepath.Join(dir, "session.env")
	if s, err := SessionFrom(file); err != nil || s.Wayland != "" || s.X != "" {
		t.Errorf("SessionFrom(no file) = %+v, %v; want no session, no error", s, err)
	}
	os.WriteFile(file, []byte("# written by kiosk.sh\nWAYLAND_DISPLAY=/run/mirror-kiosk/wayland-0\n"), 0o644)
	if s, err := SessionFrom(file); err != nil || s.Wayland != "/run/mirror-kiosk/wayland-0" {
		t.Errorf("SessionFrom = %+v, %v; want the kiosk's socket", s, err)
	}
	t.Setenv("WAYLAND_DISPLAY", "wayland-9") // the agent's own environment wins
	if s, _ := SessionFrom(file); s.Wayland != "wayland-9" {
		t.Errorf("SessionFrom with $WAYLAND_DISPLAY = %+v, want wayland-9", s)
	}
	t.Setenv("WAYLAND_DISPLAY", "")
	for content, want := range map[string]string{
		"WAYLAND_DISPLAY=wayland-0\n": "must be the socket's absolute path",
		"DISPLAY\n":                   "is not KEY=VALUE",
	} {
		os.WriteFile(file, []byte(content), 0o644)
		if _, err := SessionFrom(file); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), file+":1") {
			t.Errorf("SessionFrom(%q) = %v, want an error at %s:1 saying %q", content, err, file, want)
		}
	}
}

// TestDetectOrder: auto takes the first method of Methods that is present and answers.
func TestDetectOrder(t *testing.T) {
	bin := t.TempDir()
	t.Setenv("PATH", bin)
	sys, _ := backlightTree(t)
	wayland := &Session{Wayland: "/run/mirror-kiosk/wayland-0"}
	var skipped []string
	detect := func(s *Session, sys string) string {
		skipped = nil
		p, err := DetectWith(t.Context(), "auto", DetectOptions{Session: s, Sys: sys,
			Skipped: func(m string, err error) { skipped = append(skipped, m) }})
		if err != nil {
			t.Fatal(err)
		}
		return Name(p)
	}
	script(t, bin, "ddcutil", "exit 1\n") // no monitor answers DDC/CI
	script(t, bin, "wlopm", "echo 'compositor does not support wlr-output-power-management-unstable-v1' >&2; exit 1\n")
	if got := detect(wayland, t.TempDir()); got != "none" {
		t.Errorf("auto with failing wlopm and ddcutil = %s, want none", got)
	}
	if got, want := strings.Join(skipped, " "), strings.Join(Methods, " "); got != want {
		t.Errorf("skipped %s, want every method: %s", got, want)
	}
	script(t, bin, "wlr-randr", fakeWlrRandr)
	if got := detect(wayland, t.TempDir()); got != "wlr-randr" {
		t.Errorf("auto with wlr-randr answering and wlopm failing = %s, want wlr-randr", got)
	}
	if got := detect(&Session{}, t.TempDir()); got != "none" {
		t.Errorf("auto with wlr-randr but no Wayland session = %s, want none", got)
	}
	script(t, bin, "ddcutil", "echo 'VCP code 0xd6: DPM: On'\n")
	if got := detect(&Session{}, t.TempDir()); got != "ddc" {
		t.Errorf("auto with ddcutil answering, no session = %s, want ddc", got)
	}
	script(t, bin, "wlopm", "echo 'HDMI-A-1 on'\n")
	if got := detect(wayland, t.TempDir()); got != "wlopm" {
		t.Errorf("auto with wlopm answering = %s, want wlopm", got)
	}
	if got := detect(wayland, sys); got != "backlight" {
		t.Errorf("auto with a backlight = %s, want backlight", got)
	}
	script(t, bin, "cec-client", "exit 0\n")
	if got := detect(wayland, sys); got != "cec" {
		t.Errorf("auto with cec-client = %s, want cec", got)
	}
	// Named methods: what is missing is an error that names it.
	script(t, bin, "xset", "exit 0\n")
	for method, want := range map[string]string{"backlight": "no /sys/class/backlight", "dpms": "no X display"} {
		if _, err := DetectWith(t.Context(), method, DetectOptions{Session: &Session{}, Sys: t.TempDir()}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Detect(%s) = %v, want %q", method, err, want)
		}
	}
	if _, err := DetectWith(t.Context(), "wlopm", DetectOptions{Session: &Session{}}); err == nil || !strings.Contains(err.Error(), "no Wayland session") {
		t.Errorf("Detect(wlopm) without a session = %v, want no Wayland session", err)
	}
	if _, err := DetectWith(t.Context(), "xrandr", DetectOptions{Session: &Session{}}); err == nil || !strings.Contains(err.Error(), "must be auto, cec, backlight, wlopm, wlr-randr, dpms, ddc or none") {
		t.Errorf("Detect(xrandr) = %v, want the list of methods", err)
	}
}

// TestCageHeadless starts the kiosk as its unit does, scripts/kiosk.sh under Debian's real cage
// (headless backend, a stand-in browser), as an unprivileged user (tests run as root), and
// reaches the compositor the way the agent does: through the session file kiosk.sh writes in
// its runtime directory. cage 0.1.4 implements neither the output-management nor the
// output-power protocol, so wlr-randr reaches it but is refused, and auto passes it over.
func TestCageHeadless(t *testing.T) {
	kioskSh := needCageAsRoot(t, "kiosk.sh", "bash")
	// The runtime directory systemd makes for mirror-kiosk.service, owned by the kiosk's user.
	runtime := t.TempDir()
	os.Chmod(filepath.Dir(runtime), 0o755)
	browser := script(t, runtime, "browser", "exec sleep 60\n")
	for _, p := range []string{runtime, browser} {
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(runtime, 0o750)
	ln, err := net.Listen("tcp", "127.0.0.1:0") // the agent's page, which kiosk.sh waits for
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	kiosk := exec.Command(kioskSh)
	kiosk.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + runtime, "RUNTIME_DIRECTORY=" + runtime, "CHROMIUM=" + browser,
		"KIOSK_URL=http://" + ln.Addr().String() + "/", "WLR_BACKENDS=headless", "WLR_RENDERER=pixman", "WLR_LIBINPUT_NO_DEVICES=1"}
	kiosk.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}, Setpgid: true}
	logf, _ := os.Create(filepath.Join(t.TempDir(), "kiosk.log"))
	kiosk.Stdout, kiosk.Stderr = logf, logf
	if err := kiosk.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- kiosk.Wait() }()
	t.Cleanup(func() {
		syscall.Kill(-kiosk.Process.Pid, syscall.SIGTERM)
		<-exited
	})
	file := filepath.Join(runtime, "session.env")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(file); err == nil {
			break
		}
		select {
		case err := <-exited:
			exited <- err
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("kiosk.sh exited (%v) before writing %s:\n%s", err, file, log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 20 s", file)
		}
	}
	t.Setenv("WAYLAND_DISPLAY", "") // the agent has no session of its own
	t.Setenv("XDG_RUNTIME_DIR", "")
	t.Setenv("DISPLAY", "")
	s, err := SessionFrom(file)
	if want := filepath.Join(runtime, "wayland-0"); err != nil || s.Wayland != want || s.X != "" {
		t.Fatalf("SessionFrom(%s) = %+v, %v; want WAYLAND_DISPLAY=%s only (cage's Xwayland has no DPMS)", file, s, err, want)
	}
	if fi, err := os.Stat(s.Wayland); err != nil || fi.Mode().Perm()&0o060 != 0o060 {
		t.Errorf("cage's socket %s: %v, %v; want it group read-write (kiosk.sh starts cage with umask 0007)", s.Wayland, fi.Mode(), err)
	}
	// Another user (the agent's) reaches the socket through the group, and only through it.
	for gid, want := range map[uint32]string{65534: "doesn't support wlr-output-management", 65533: "failed to connect"} {
		cmd := exec.Command("/usr/bin/wlr-randr")
		cmd.Env = []string{"WAYLAND_DISPLAY=" + s.Wayland}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65533, Gid: gid}}
		out, _ := cmd.CombinedOutput()
		if !strings.Contains(string(out), want) {
			t.Errorf("wlr-randr as uid 65533 gid %d: %q, want %q", gid, out, want)
		}
	}
	bin := t.TempDir()
	if err := os.Symlink("/usr/bin/wlr-randr", filepath.Join(bin, "wlr-randr")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	_, err = DetectWith(t.Context(), "wlr-randr", DetectOptions{Session: &s})
	if err == nil || !strings.Contains(err.Error(), "doesn't support wlr-output-management") {
		t.Fatalf("Detect(wlr-randr) under cage 0.1.4 = %v, want the compositor's refusal (a connection that reached it)", err)
	}
	var skipped error
	p, err := DetectWith(t.Context(), "auto", DetectOptions{Session: &s, Sys: t.TempDir(),
		Skipped: func(m string, err error) {
			if m == "wlr-randr" {
				skipped = err
			}
		}})
	if p != nil || err != nil || skipped == nil || !strings.Contains(skipped.Error(), "doesn't support") {
		t.Errorf("Detect(auto) under cage = %v, %v (wlr-randr skipped: %v); want none, wlr-randr refused", Name(p), err, skipped)
	}
}

// needCageAsRoot fails the test unless this machine can run a headless cage as another user
// (the tools from scripts/setup.sh, and root), and returns the repository's scripts/script.
func needCageAsRoot(t *testing.T, script string, tools ...string) string {
	t.Helper()
	for _, tool := range append([]string{"cage", "wlr-randr", "Xwayland"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s: %v (scripts/setup.sh installs cage, xwayland, wlr-randr and acl)", tool, err)
		}
	}
	if os.Geteuid() != 0 {
		t.Fatalf("%s runs cage as the user nobody, which needs root", t.Name())
	}
	path, err := filepath.Abs(filepath.Join("../../scripts", script))
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRedetect: the method is found at the switch, not before: a session file written after
// the agent started (the kiosk starts after it) is used; auto with nothing does nothing; a
// named method that is missing is an error.
func TestRedetect(t *testing.T) {
	bin, run := t.TempDir(), t.TempDir()
	t.Setenv("PATH", bin)
	t.Setenv("WAYLAND_DISPLAY", "")
	file := filepath.Join(run, "session.env")
	auto := Redetect{Method: "auto", Options: DetectOptions{Sys: t.TempDir(), SessionFile: file}}
	if err := auto.SetPower(t.Context(), false); err != nil {
		t.Errorf("auto with nothing: %v, want nil (the panel stays on)", err)
	}
	script(t, bin, "wlr-randr", fakeWlrRandr)
	os.WriteFile(file, []byte("WAYLAND_DISPLAY=/run/mirror-kiosk/wayland-0\n"), 0o644)
	if err := auto.SetPower(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	if got := readLog(t, filepath.Join(bin, "log")); !strings.Contains(got, "WAYLAND_DISPLAY=/run/mirror-kiosk/wayland-0 args: --output HDMI-A-1 --off") {
		t.Errorf("wlr-randr calls = %q, want the outputs switched off in the kiosk's session", got)
	}
	if err := (Redetect{Method: "ddc", Options: DetectOptions{SessionFile: file}}).SetPower(t.Context(), true); err == nil || !strings.Contains(err.Error(), "ddcutil") {
		t.Errorf("named ddc without ddcutil: %v, want an error naming it", err)
	}
	if err := CheckMethod("xrandr"); err == nil {
		t.Error("CheckMethod(xrandr) = nil")
	}
}
