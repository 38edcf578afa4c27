//go:build arm64emu

// The arm64 (Raspberry Pi 4/5) checks, run by `make test-arm64` after the suite under qemu:
//
//	go test -tags arm64emu -run TestArm64 .
//
// They need the cross toolchain, qemu-user-static (scripts/setup.sh) and the arm64 sysroot
// (scripts/arm64-sysroot.sh, made on first use), so they sit behind a build tag rather than in
// make test.
package fitmirror_test

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/fitmirror/fitmirror/device/camera/democlip"
	"github.com/fitmirror/fitmirror/device/vision/evalset"
)

// hostEnv is the environment without any cross-compiling variables, for native go commands.
func hostEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "GOARCH", "GOOS", "CC", "CXX", "CGO_CFLAGS", "CGO_CXXFLAGS", "CGO_LDFLAGS",
			"PKG_CONFIG_SYSROOT_DIR", "PKG_CONFIG_LIBDIR", "FITMIRROR_TEST_EXEC":
			continue
		}
		env = append(env, kv)
	}
	return env
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = hostEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, lastLines(stderr.String(), 30))
	}
	return out
}

// newest is the most recently written file matching pattern.
func newest(t *testing.T, pattern string) string {
	t.Helper()
	m, _ := filepath.Glob(pattern)
	if len(m) == 0 {
		t.Fatalf("no %s", pattern)
	}
	sort.Slice(m, func(i, j int) bool {
		a, _ := os.Stat(m[i])
		b, _ := os.Stat(m[j])
		return a.ModTime().After(b.ModTime())
	})
	return m[0]
}

// TestArm64Package: make deb-arm64 on this amd64 machine makes arm64 packages whose programs are
// aarch64 ELF files and whose Depends name exactly the packages of mirror-agent's NEEDED
// libraries (looked up in the sysroot, as dpkg -S would on a Pi), with a libc6 version that
// covers the glibc symbol versions the binary asks for.
func TestArm64Package(t *testing.T) {
	run(t, "make", "deb-arm64")
	agentDeb := newest(t, "dist/fitmirror-agent_*_arm64.deb")
	cloudDeb := newest(t, "dist/fitmirror-cloud_*_arm64.deb")
	for _, deb := range []string{agentDeb, cloudDeb} {
		if got := strings.TrimSpace(string(run(t, "dpkg-deb", "-f", deb, "Architecture"))); got != "arm64" {
			t.Errorf("%s: Architecture %q, want arm64", deb, got)
		}
	}
	root := t.TempDir()
	run(t, "dpkg-deb", "-x", agentDeb, root)
	run(t, "dpkg-deb", "-x", cloudDeb, root)
	for _, prog := range []string{"mirror-agent", "mirrorctl", "mirror-cloud"} {
		f, err := elf.Open(filepath.Join(root, "usr/bin", prog))
		if err != nil {
			t.Fatalf("%s in the package: %v", prog, err)
		}
		if f.Machine != elf.EM_AARCH64 || f.Class != elf.ELFCLASS64 {
			t.Errorf("%s is %v %v, want an aarch64 ELF", prog, f.Class, f.Machine)
		}
		f.Close()
	}
	list := string(run(t, "dpkg-deb", "-c", agentDeb))
	for _, want := range []string{"./lib/systemd/system/mirror-agent.service", "./lib/systemd/system/mirror-kiosk.service",
		"./usr/share/fitmirror/models/blazeface/face_detection_front_128x128_barracuda.onnx"} {
		if !strings.Contains(list, want+"\n") {
			t.Errorf("%s lacks %s", agentDeb, want)
		}
	}
	cloudList := string(run(t, "dpkg-deb", "-c", cloudDeb))
	for _, want := range []string{"./lib/systemd/system/mirror-cloud.service", "./lib/systemd/system/mirror-cloud-nats-auth.service"} {
		if !strings.Contains(cloudList, want+"\n") {
			t.Errorf("%s lacks %s", cloudDeb, want)
		}
	}

	sysroot := strings.TrimSpace(string(run(t, "scripts/arm64-sysroot.sh", "--path")))
	index, err := os.ReadFile(filepath.Join(sysroot, ".fitmirror-shlibs"))
	if err != nil {
		t.Fatal(err)
	}
	owner := map[string]string{} // soname → package, for the loader's directories
	for _, l := range strings.Split(string(index), "\n") {
		path, pkg, ok := strings.Cut(l, " ")
		if ok && regexp.MustCompile(`^(/usr)?/lib/aarch64-linux-gnu/[^/]+$`).MatchString(path) {
			owner[filepath.Base(path)] = pkg
		}
	}
	checkDepends(t, filepath.Join(root, "usr/bin/mirror-agent"), string(run(t, "dpkg-deb", "-f", agentDeb, "Depends")),
		func(soname string) string { return owner[soname] })
	checkDepends(t, filepath.Join(root, "usr/bin/mirror-cloud"), string(run(t, "dpkg-deb", "-f", cloudDeb, "Depends")),
		func(soname string) string { return owner[soname] })
}

var glibcVersion = regexp.MustCompile(`^GLIBC_(\d+)\.(\d+)`)

// checkDepends compares a package's Depends with its binary: every NEEDED library's package is
// there, no library package is there that the binary does not need, and libc6's minimum covers
// the newest GLIBC_x.y symbol version the binary uses.
func checkDepends(t *testing.T, bin, depends string, pkgOf func(soname string) string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	needed, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	deps := map[string]string{} // package → version constraint
	for _, d := range strings.Split(depends, ",") {
		name, constraint, _ := strings.Cut(strings.TrimSpace(d), " ")
		deps[name] = constraint
	}
	want := map[string]bool{}
	for _, so := range needed {
		pkg := pkgOf(so)
		if pkg == "" {
			t.Errorf("%s: no package ships %s", bin, so)
			continue
		}
		want[pkg] = true
		if _, ok := deps[pkg]; !ok {
			t.Errorf("%s needs %s (%s), which Depends %q lacks", filepath.Base(bin), so, pkg, depends)
		}
	}
	for pkg := range deps {
		if strings.HasPrefix(pkg, "lib") && !want[pkg] {
			t.Errorf("Depends names %s, but %s needs no library from it (NEEDED %v)", pkg, filepath.Base(bin), needed)
		}
	}
	vn, err := f.DynamicVersionNeeds()
	if err != nil {
		t.Fatal(err)
	}
	maxMajor, maxMinor := 0, 0
	for _, n := range vn {
		for _, d := range n.Needs {
			if m := glibcVersion.FindStringSubmatch(d.Dep); m != nil {
				a, _ := strconv.Atoi(m[1])
				b, _ := strconv.Atoi(m[2])
				if a > maxMajor || a == maxMajor && b > maxMinor {
					maxMajor, maxMinor = a, b
				}
			}
		}
	}
	m := regexp.MustCompile(`\(>= (\d+)\.(\d+)\)`).FindStringSubmatch(deps["libc6"])
	if m == nil {
		t.Errorf("Depends %q: libc6 without a minimum version (the binary uses GLIBC_%d.%d)", depends, maxMajor, maxMinor)
		return
	}
	a, _ := strconv.Atoi(m[1])
	b, _ := strconv.Atoi(m[2])
	if a < maxMajor || a == maxMajor && b < maxMinor {
		t.Errorf("Depends libc6 %s, but %s uses GLIBC_%d.%d", deps["libc6"], filepath.Base(bin), maxMajor, maxMinor)
	}
}

// TestArm64DependsAmd64: the same Depends hold for this machine's build (dpkg -S names the
// packages), so one nfpm config serves both architectures.
func TestArm64DependsAmd64(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "mirror-agent")
	run(t, "go", "build", "-o", bin, "./cmd/mirror-agent")
	depends := regexp.MustCompile(`(?s)\ndepends:\n(.*?)\n\w`).FindStringSubmatch(readFile(t, "scripts/deb/nfpm.yaml"))
	if depends == nil {
		t.Fatal("no depends in scripts/deb/nfpm.yaml")
	}
	var names []string
	for _, l := range strings.Split(depends[1], "\n") {
		names = append(names, strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "- ")))
	}
	checkDepends(t, bin, strings.Join(names, ", "), func(soname string) string {
		out, err := exec.Command("dpkg", "-S", "*/"+soname).Output()
		if err != nil {
			return ""
		}
		for _, l := range strings.Split(string(out), "\n") {
			if pkg, path, ok := strings.Cut(l, ": "); ok && strings.Contains(path, "/x86_64-linux-gnu/") {
				pkg, _, _ = strings.Cut(pkg, ":")
				return pkg
			}
		}
		return ""
	})
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestArm64ReplayMatchesAmd64 is the acceptance check of the arm64 build: mirror-agent replay,
// run through scripts/arm64-run.sh (qemu), gives the same sessions as the amd64 build on the demo
// clip and on the evaluation clip with two visits.
func TestArm64ReplayMatchesAmd64(t *testing.T) {
	dir := t.TempDir()
	amd64 := filepath.Join(dir, "amd64", "mirror-agent")
	run(t, "go", "build", "-o", amd64, "./cmd/mirror-agent")
	run(t, "scripts/arm64-go.sh", "build", "-o", filepath.Join(dir, "arm64")+"/", "./cmd/mirror-agent")
	arm64 := filepath.Join(dir, "arm64", "mirror-agent")

	clips := map[string]string{"demo": filepath.Join(dir, "demo.avi")}
	if _, err := democlip.Generate("testdata/face.jpg", clips["demo"], democlip.Default); err != nil {
		t.Fatal(err)
	}
	for _, s := range evalset.Specs() {
		switch s.Name {
		case "two-visits": // emulation is slow (~40× here): one clip beyond the demo
			c, err := evalset.GenerateClip("testdata/face.jpg", filepath.Join(dir, s.Name+".avi"), s)
			if err != nil {
				t.Fatal(err)
			}
			clips[s.Name] = c.Path
		}
	}
	sessions := 0
	for name, clip := range clips {
		args := []string{"replay", "--video", clip, "--set", "state_dir=" + filepath.Join(dir, "state")}
		want, wantSum := replayLines(t, run(t, amd64, args...))
		got, gotSum := replayLines(t, run(t, "scripts/arm64-run.sh", append([]string{arm64}, args...)...))
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: arm64 sessions\n  %s\nwant (amd64)\n  %s", name, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		if gotSum["frames"] != wantSum["frames"] || gotSum["analysed"] != wantSum["analysed"] {
			t.Errorf("%s: arm64 summary %v, amd64 %v: want the same frames analysed", name, gotSum, wantSum)
		}
		t.Logf("%s: %d session events on both; detections arm64 %v amd64 %v; cpu ms/frame arm64 (emulated) %v amd64 %v",
			name, len(want), gotSum["detections"], wantSum["detections"], gotSum["cpu_ms_per_frame"], wantSum["cpu_ms_per_frame"])
		sessions += len(want)
	}
	if sessions == 0 {
		t.Fatal("no clip opened a session: the comparison compared nothing")
	}
}

// replayLines splits replay's output into its event lines (compared as printed) and its summary.
func replayLines(t *testing.T, out []byte) (events []string, summary map[string]any) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("replay line %q: %v", sc.Text(), err)
		}
		if m["type"] == "summary" {
			summary = m
			continue
		}
		events = append(events, sc.Text())
	}
	if summary == nil {
		t.Fatalf("replay printed no summary:\n%s", out)
	}
	return events, summary
}
