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

// TestDesktopSession: in a desktop session (labwc or wayfire on Raspberry Pi OS, which Debian
// does not package: Debian's cage stands in as the compositor), the socket is in the desktop
// user's runtime directory (0700). scripts/desktop-session.sh, run from the session's
// autostart, lets the agent's user — and only it — reach the socket, and writes the session
// file the agent finds by itself. The desktop user is nobody, the agent's user daemon, a
// bystander bin (Debian's fixed system users; tests run as root).
func TestDesktopSession(t *testing.T) {
	script := needCageAsRoot(t, "desktop-session.sh", "setfacl")
	runtime := filepath.Join(t.TempDir(), "1000") // as /run/user/UID: 0700, the desktop user's
	os.Chmod(filepath.Dir(runtime), 0o755)
	os.Chmod(filepath.Dir(filepath.Dir(runtime)), 0o755)
	if err := os.Mkdir(runtime, 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chown(runtime, 65534, 65534)
	ready := filepath.Join(runtime, "ready")
	// The autostart: the script (when asked), then a stand-in for the desktop's programs.
	autostart := `if [ "$RUN_SCRIPT" = 1 ]; then "$SCRIPT" > "$XDG_RUNTIME_DIR/script.log" 2>&1; fi; touch "$XDG_RUNTIME_DIR/ready"; exec sleep 60`
	reach := func(uid uint32, socket string) string {
		cmd := exec.Command("/usr/bin/wlr-randr")
		cmd.Env = []string{"WAYLAND_DISPLAY=" + socket}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	for _, runScript := range []string{"0", "1"} {
		os.Remove(ready)
		session := exec.Command("cage", "-s", "--", "sh", "-c", autostart)
		session.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + runtime, "XDG_RUNTIME_DIR=" + runtime, "SCRIPT=" + script,
			"RUN_SCRIPT=" + runScript, "FITMIRROR_AGENT_USER=daemon", "WLR_BACKENDS=headless", "WLR_RENDERER=pixman", "WLR_LIBINPUT_NO_DEVICES=1"}
		session.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}, Setpgid: true}
		out := &strings.Builder{}
		session.Stdout, session.Stderr = out, out
		if err := session.Start(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if _, err := os.Stat(ready); err == nil {
				break
			}
			if time.Now().After(deadline) {
				syscall.Kill(-session.Process.Pid, syscall.SIGKILL)
				session.Wait()
				t.Fatalf("the session did not start in 20 s:\n%s", out)
			}
		}
		socket := filepath.Join(runtime, "wayland-0")
		agent, bystander := reach(1, socket), reach(2, socket)
		log, _ := os.ReadFile(filepath.Join(runtime, "script.log"))
		syscall.Kill(-session.Process.Pid, syscall.SIGTERM)
		session.Wait()
		if runScript == "0" {
			if !strings.Contains(agent, "failed to connect") {
				t.Errorf("without the script the agent's user reached the desktop's socket: %q", agent)
			}
			continue
		}
		if !strings.Contains(agent, "doesn't support wlr-output-management") {
			t.Errorf("after desktop-session.sh, wlr-randr as the agent's user = %q, want the compositor's answer (script: %s)", agent, log)
		}
		if !strings.Contains(bystander, "failed to connect") {
			t.Errorf("another user reached the desktop's socket: %q", bystander)
		}
		// The agent finds the session file by itself when there is no kiosk session.
		t.Setenv("WAYLAND_DISPLAY", "")
		t.Setenv("XDG_RUNTIME_DIR", "")
		t.Setenv("DISPLAY", "")
		defer func(g string) { DesktopSessionGlob = g }(DesktopSessionGlob)
		DesktopSessionGlob = filepath.Join(filepath.Dir(runtime), "*", "fitmirror-session.env")
		if s, err := SessionFrom(filepath.Join(runtime, "no-kiosk-file")); err != nil || s.Wayland != "" {
			t.Errorf("SessionFrom(named file, missing) = %+v, %v; want no session (only the default looks further)", s, err)
		}
		if _, err := os.Stat(KioskSessionFile); err == nil {
			t.Fatalf("this machine has a kiosk session file %s: the default cannot be tested", KioskSessionFile)
		}
		if s, err := SessionFrom(""); err != nil || s.Wayland != socket {
			t.Errorf("SessionFrom(default) = %+v, %v; want the desktop's %s", s, err, socket)
		}
	}
}

// TestDesktopSessionScriptErrors: run outside a Wayland session, or for a user that does not
// exist, the script says what is missing and changes nothing.
func TestDesktopSessionScriptErrors(t *testing.T) {
	runtime := t.TempDir()
	sockDir := t.TempDir()
	ln, err := net.Listen("unix", filepath.Join(sockDir, "wayland-0")) // a socket that exists
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for env, want := range map[string]string{
		"XDG_RUNTIME_DIR=":                                 "no $XDG_RUNTIME_DIR",
		"WAYLAND_DISPLAY=":                                 "no $WAYLAND_DISPLAY",
		"WAYLAND_DISPLAY=wayland-7":                        "is not the compositor's socket",
		"FITMIRROR_AGENT_USER=no-such-user-fitmirror-test": "no user no-such-user-fitmirror-test",
	} {
		cmd := exec.Command("../../scripts/desktop-session.sh")
		cmd.Env = []string{"PATH=/usr/bin:/bin", "XDG_RUNTIME_DIR=" + runtime, "WAYLAND_DISPLAY=" + filepath.Join(runtime, "sock"), env}
		if strings.HasPrefix(env, "FITMIRROR") {
			cmd.Env = append(cmd.Env, "WAYLAND_DISPLAY="+filepath.Join(sockDir, "wayland-0"))
		}
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), want) {
			t.Errorf("desktop-session.sh with %s = %v %q, want an error saying %q", env, err, out, want)
		}
	}
	if entries, _ := os.ReadDir(runtime); len(entries) != 0 {
		t.Errorf("the failed runs left %v", entries)
	}
}
