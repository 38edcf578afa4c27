package update_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/fitmirror/fitmirror/device/update"
	"github.com/fitmirror/fitmirror/internal/testexec"
	"github.com/fitmirror/fitmirror/internal/window"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// hostArch is the architecture dpkg installs here (amd64 also when the suite runs emulated
// for arm64: the dpkg is this machine's).
var hostArch = func() string {
	a, err := update.Dpkg{}.Architecture(context.Background())
	if err != nil {
		panic(err)
	}
	return a
}()

// TestMain is also the installer unit: the tests start this binary again with
// UPDATE_APPLY_DIR set, as systemd starts mirror-agent update-apply, and kill it with SIGKILL
// at the journal step UPDATE_KILL_AT names.
func TestMain(m *testing.M) {
	if dir := os.Getenv("UPDATE_APPLY_DIR"); dir != "" {
		kill := os.Getenv("UPDATE_KILL_AT")
		err := update.Apply(context.Background(), update.ApplyOptions{Dir: dir, Dpkg: update.Dpkg{Root: os.Getenv("UPDATE_ROOT")},
			Poll: 50 * time.Millisecond, Hook: func(point string) {
				if point == kill {
					syscall.Kill(os.Getpid(), syscall.SIGKILL)
				}
			}})
		if err != nil {
			fmt.Fprintln(os.Stderr, "update-apply:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const pkgName = "fitmirror-agent"

// release is a signed .deb as the hub serves it.
type release struct {
	version, arch, path string
	size                int64
	sha256, signature   string
}

// keypair is a minisign key made by the minisign command (-W: no password).
type keypair struct {
	dir string
	pub minisign.PublicKey
}

func newKey(t *testing.T) keypair {
	t.Helper()
	dir := t.TempDir()
	run(t, dir, "minisign", "-G", "-W", "-p", "pub", "-s", "sec")
	pub, err := minisign.PublicKeyFromFile(filepath.Join(dir, "pub"))
	if err != nil {
		t.Fatal(err)
	}
	return keypair{dir: dir, pub: pub}
}

// sign signs file with the minisign command and returns the signature's text.
func (k keypair) sign(t *testing.T, file string) string {
	t.Helper()
	sig := file + ".minisig"
	run(t, k.dir, "minisign", "-S", "-s", "sec", "-m", file, "-x", sig)
	b, err := os.ReadFile(sig)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// buildDeb builds a tiny fitmirror-agent package with dpkg-deb: one file that names its
// version, padded to pad bytes (random, so that it does not compress away).
func buildDeb(t *testing.T, dir, version, arch string, pad int) string {
	t.Helper()
	tree := filepath.Join(dir, "tree-"+version+"-"+arch)
	must(t, os.MkdirAll(filepath.Join(tree, "DEBIAN"), 0o755))
	must(t, os.MkdirAll(filepath.Join(tree, "usr/share/fitmirror-test"), 0o755))
	must(t, os.WriteFile(filepath.Join(tree, "DEBIAN/control"), []byte(fmt.Sprintf(
		"Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: test <t@example.invalid>\nDescription: update test package\n",
		pkgName, version, arch)), 0o644))
	must(t, os.WriteFile(filepath.Join(tree, "usr/share/fitmirror-test/version"), []byte(version+"\n"), 0o644))
	if pad > 0 {
		b := make([]byte, pad)
		f, _ := os.Open("/dev/urandom")
		f.Read(b)
		f.Close()
		must(t, os.WriteFile(filepath.Join(tree, "usr/share/fitmirror-test/pad"), b, 0o644))
	}
	deb := filepath.Join(dir, fmt.Sprintf("%s_%s_%s.deb", pkgName, version, arch))
	run(t, dir, "dpkg-deb", "--root-owner-group", "-Zgzip", "--build", tree, deb)
	return deb
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newRelease(t *testing.T, k keypair, dir, version, arch string, pad int) release {
	return releaseOf(t, k, buildDeb(t, dir, version, arch, pad), version)
}

// releaseOf signs deb and describes it as the hub serves it.
func releaseOf(t *testing.T, k keypair, deb, version string) release {
	arch := strings.TrimSuffix(deb[strings.LastIndexByte(deb, '_')+1:], ".deb")
	b, err := os.ReadFile(deb)
	must(t, err)
	sum := sha256.Sum256(b)
	return release{version: version, arch: arch, path: deb, size: int64(len(b)), sha256: hex.EncodeToString(sum[:]),
		signature: k.sign(t, deb)}
}

// newRoot makes a throwaway dpkg root with version installed.
func newRoot(t *testing.T, deb string) update.Dpkg {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/updates", "var/lib/dpkg/info", "var/lib/dpkg/triggers"} {
		must(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
		must(t, os.WriteFile(filepath.Join(root, f), nil, 0o644))
	}
	d := update.Dpkg{Root: root}
	ctx := context.Background()
	must(t, d.Unpack(ctx, deb))
	must(t, d.Configure(ctx, pkgName))
	return d
}

// hub serves releases at /v1/releases/{version}/{arch} with the device token, as mirror-cloud
// does: streamed, with Range. cut, when set, makes the first download stop after that many
// bytes (the connection closes).
type hub struct {
	srv      *httptest.Server
	token    string
	mu       sync.Mutex
	releases map[string]release
	ranges   []string // the Range header of each request
	cut      atomic.Int64
	cuts     atomic.Int32 // how many downloads are cut (default one, when cut is set)
}

func newHub(t *testing.T, rels ...release) *hub {
	h := &hub{token: "device-token", releases: map[string]release{}}
	for _, r := range rels {
		h.releases[r.version+"/"+r.arch] = r
	}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hub) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+h.token {
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(wire.APIError{Error: wire.Error{Code: wire.CodeUnauthorized, Message: "no or unknown device token"}})
		return
	}
	h.mu.Lock()
	rel, ok := h.releases[strings.TrimPrefix(r.URL.Path, "/v1/releases/")]
	h.ranges = append(h.ranges, r.Header.Get("Range"))
	h.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	f, err := os.Open(rel.path)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	defer f.Close()
	if n := h.cut.Load(); n > 0 {
		if h.cuts.Add(-1) <= 0 {
			h.cut.Store(0)
		}
		if r.Header.Get("Range") != "" { // a resumed download is cut again, a little further on
			http.ServeContent(&cutWriter{ResponseWriter: w, left: n / 4}, r, "release.deb", time.Time{}, f)
			panic(http.ErrAbortHandler)
		}
		w.Header().Set("Content-Length", strconv.FormatInt(rel.size, 10))
		w.WriteHeader(http.StatusOK)
		buf := make([]byte, n)
		f.Read(buf)
		w.Write(buf)
		panic(http.ErrAbortHandler) // the connection is cut
	}
	http.ServeContent(w, r, "release.deb", time.Time{}, f)
}

// cutWriter writes left bytes of the body, then fails (the handler then cuts the connection).
type cutWriter struct {
	http.ResponseWriter
	left int64
}

func (c *cutWriter) Write(b []byte) (int, error) {
	if int64(len(b)) > c.left {
		b = b[:c.left]
	}
	n, _ := c.ResponseWriter.Write(b)
	c.left -= int64(n)
	if c.left == 0 {
		return n, fmt.Errorf("cut")
	}
	return n, nil
}

func (h *hub) args(r release) wire.UpdateArgs {
	return wire.UpdateArgs{Version: r.version, URL: "/v1/releases/" + r.version + "/" + r.arch, SHA256: r.sha256, Size: r.size,
		Signature: r.signature}
}

// events records the update.* events.
type events struct {
	mu   sync.Mutex
	list []string // "type version from reason"
	data []wire.Update
}

func (e *events) record(typ string, d wire.Update) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, typ)
	e.data = append(e.data, d)
}

func (e *events) types() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.list, " ")
}

func (e *events) last() wire.Update {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.data) == 0 {
		return wire.Update{}
	}
	return e.data[len(e.data)-1]
}

// mirror is one mirror under test: a dpkg root with version 1.0.0 installed, its update
// directory, the hub with releases 2.0.0 (and what a test adds), and the installer started
// as a separate process.
type mirror struct {
	t      *testing.T
	key    keypair
	dpkg   update.Dpkg
	dir    string
	hub    *hub
	ev     events
	busy   atomic.Bool
	target atomic.Value // string
	window window.Window

	healthy       func() (bool, string)
	healthTimeout time.Duration
	killAt        atomic.Value // string: the kill point of the next installer started
	launches      atomic.Int32
	procs         sync.WaitGroup
	v1, v2        release
}

func newMirror(t *testing.T) *mirror {
	t.Helper()
	build := t.TempDir()
	key := newKey(t)
	v1 := newRelease(t, key, build, "1.0.0", hostArch, 0)
	v2 := newRelease(t, key, build, "2.0.0", hostArch, 0)
	return mirrorOn(t, key, newRoot(t, v1.path), v1, v2)
}

// mirrorOn is a mirror on a dpkg root where v1 is installed, its hub serving v1 and v2.
func mirrorOn(t *testing.T, key keypair, d update.Dpkg, v1, v2 release) *mirror {
	m := &mirror{t: t, key: key, dir: filepath.Join(t.TempDir(), "update"), healthTimeout: 20 * time.Second,
		healthy: func() (bool, string) { return true, "" }, dpkg: d, v1: v1, v2: v2}
	m.hub = newHub(t, v1, v2)
	m.killAt.Store("")
	m.target.Store("")
	t.Cleanup(m.procs.Wait)
	return m
}

// agent starts the agent's updater as the version dpkg has installed (a fresh process).
func (m *mirror) agent() *update.Updater {
	m.t.Helper()
	u, err := update.New(context.Background(), update.Options{Dir: m.dir, HubURL: m.hub.srv.URL, Token: m.hub.token,
		Keys: []minisign.PublicKey{newKey(m.t).pub, m.key.pub}, HealthTimeout: m.healthTimeout, Window: m.window, Dpkg: m.dpkg,
		Launch:    m.launch,
		Busy:      func(context.Context) bool { return m.busy.Load() },
		Healthy:   func() (bool, string) { return m.healthy() },
		Record:    m.ev.record,
		SetTarget: func(v string) { m.target.Store(v) },
		Attempts:  3, RetryAfter: 10 * time.Millisecond, Poll: 20 * time.Millisecond, HealthyFor: 150 * time.Millisecond})
	if err != nil {
		m.t.Fatal(err)
	}
	return u
}

// launch starts the installer, as fitmirror-update.path does: this test binary as
// update-apply, killed at the point killAt names (once).
func (m *mirror) launch(ctx context.Context) error {
	m.launches.Add(1)
	cmd := testexec.Command(os.Args[0]) // through qemu when the suite runs emulated
	cmd.Env = append(os.Environ(), "UPDATE_APPLY_DIR="+m.dir, "UPDATE_ROOT="+m.dpkg.Root, "UPDATE_KILL_AT="+m.killAt.Swap("").(string))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	m.procs.Add(1)
	go func() { defer m.procs.Done(); cmd.Wait() }()
	return nil
}

// command runs the update command with args.
func (m *mirror) command(u *update.Updater, a wire.UpdateArgs) (wire.UpdateResult, error) {
	b, _ := json.Marshal(a)
	data, err := u.Handle(context.Background(), b)
	if err != nil {
		return wire.UpdateResult{}, err
	}
	return data.(wire.UpdateResult), nil
}

func (m *mirror) journal() *update.Journal {
	b, err := os.ReadFile(filepath.Join(m.dir, "journal.json"))
	if err != nil {
		return nil
	}
	var j update.Journal
	must(m.t, json.Unmarshal(b, &j))
	return &j
}

// drive runs the agent until the journal is gone (the outcome reported), restarting it
// whenever dpkg installed another version (as the package's postinst restarts the agent).
// It returns the agent that reported the outcome.
func (m *mirror) drive(u *update.Updater) *update.Updater {
	m.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if v, err := m.dpkg.Installed(context.Background(), pkgName); err == nil && v != "" && v != u.Running() {
			u = m.agent() // the postinst restarted the agent: the new version runs
		}
		if err := u.Follow(context.Background()); err != nil {
			m.t.Logf("follow: %v", err)
		}
		if m.journal() == nil {
			return u
		}
		time.Sleep(20 * time.Millisecond)
	}
	m.t.Fatalf("the update did not finish: journal %+v, events %s", m.journal(), m.ev.types())
	return nil
}

// installed is the installed version and dpkg's own audit (empty when every package is
// fully configured).
func (m *mirror) installed() (version, audit string) {
	m.t.Helper()
	v, err := m.dpkg.Installed(context.Background(), pkgName)
	must(m.t, err)
	out, _ := exec.Command("dpkg", "--root="+m.dpkg.Root, "--audit").CombinedOutput()
	return v, strings.TrimSpace(string(out))
}

// versionFile is what the installed package's file says.
func (m *mirror) versionFile() string {
	b, _ := os.ReadFile(filepath.Join(m.dpkg.Root, "usr/share/fitmirror-test/version"))
	return strings.TrimSpace(string(b))
}
