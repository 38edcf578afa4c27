package hub_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
	"github.com/fitmirror/fitmirror/internal/debpkg"
	"github.com/fitmirror/fitmirror/internal/debpkg/debtest"
)

// releaseEnv is a hub with a release store and files, and an operator's minisign key.
func releaseEnv(t *testing.T) (*env, hub.AddReleaseOptions, string) {
	t.Helper()
	files := hubstore.DirFiles(filepath.Join(t.TempDir(), "releases"))
	e := newEnv(t, func(o *hub.Options) { o.ReleaseFiles = files })
	pub, sec := debtest.Keypair(t)
	keys, err := debpkg.ParseKeys([]string{debtest.PublicKey(t, pub)})
	if err != nil {
		t.Fatal(err)
	}
	return e, hub.AddReleaseOptions{Keys: keys, Package: "fitmirror-agent"}, sec
}

// TestAddRelease: a package signed with the real minisign command by a configured key is
// stored with its version, architecture, size and sha256; an unsigned, changed, foreign,
// duplicate or malformed package is refused with one line saying why, and nothing is stored.
func TestAddRelease(t *testing.T) {
	e, o, sec := releaseEnv(t)
	ctx := t.Context()
	deb := debtest.Build(t, debtest.Package{Name: "fitmirror-agent", Version: "1.2.0-1", Arch: "arm64", Payload: 200_000})
	_, sig := debtest.Sign(t, sec, deb)
	rel, err := hub.AddRelease(ctx, e.store, e.opts.ReleaseFiles, deb, sig, o)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(deb)
	if rel.Version != "1.2.0-1" || rel.Arch != "arm64" || rel.Package != "fitmirror-agent" || rel.Size != fi.Size() || len(rel.SHA256) != 64 || rel.Signature != sig {
		t.Errorf("release %+v", rel)
	}
	if l, _ := e.store.Releases(ctx); len(l) != 1 || l[0] != rel {
		t.Errorf("stored %+v, want %+v", l, rel)
	}

	_, otherSec := debtest.Keypair(t)
	changed := filepath.Join(t.TempDir(), "changed.deb")
	b, _ := os.ReadFile(deb)
	b[len(b)-100] ^= 0xff
	os.WriteFile(changed, b, 0o644)
	other := debtest.Build(t, debtest.Package{Name: "fitmirror-agent", Version: "1.3.0", Arch: "arm64", Payload: 1000})
	_, otherSig := debtest.Sign(t, otherSec, other)
	foreign := debtest.Build(t, debtest.Package{Name: "cowsay", Version: "9.0", Arch: "all", Payload: 1000})
	_, foreignSig := debtest.Sign(t, sec, foreign)
	notDeb := filepath.Join(t.TempDir(), "x.deb")
	os.WriteFile(notDeb, []byte("<html>not a package</html>"), 0o644)
	for name, tt := range map[string]struct {
		path, sig, want string
		opts            *hub.AddReleaseOptions
	}{
		"duplicate":   {deb, sig, "is stored already", nil},
		"changed":     {changed, sig, "does not match the file", nil},
		"unsigned":    {other, "", "not a minisign signature", nil},
		"other key":   {other, otherSig, "not one of the configured public keys", nil},
		"foreign":     {foreign, foreignSig, `package "cowsay", want "fitmirror-agent"`, nil},
		"not a deb":   {notDeb, sig, "not a Debian package", nil},
		"no keys":     {other, otherSig, "no updates.public_keys", &hub.AddReleaseOptions{}},
		"nonexistent": {"/nonexistent.deb", sig, "no such file", nil},
	} {
		opts := o
		if tt.opts != nil {
			opts = *tt.opts
		}
		_, err := hub.AddRelease(ctx, e.store, e.opts.ReleaseFiles, tt.path, tt.sig, opts)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line saying %q", name, err, tt.want)
		}
	}
	if l, _ := e.store.Releases(ctx); len(l) != 1 {
		t.Errorf("%d releases stored after the refusals, want 1", len(l))
	}
	if ents, _ := os.ReadDir(string(e.opts.ReleaseFiles.(hubstore.DirFiles))); len(ents) != 1 {
		t.Errorf("%d files in the release directory after the refusals, want 1", len(ents))
	}
}

// TestReleaseDownload: a device fetches a release with its token, whole or from an offset (a
// resumed download), and what it gets verifies; without a token, or for an unknown release,
// it gets nothing.
func TestReleaseDownload(t *testing.T) {
	e, o, sec := releaseEnv(t)
	deb := debtest.Build(t, debtest.Package{Name: "fitmirror-agent", Version: "1:2.0~rc1", Arch: "amd64", Payload: 600_000})
	_, sig := debtest.Sign(t, sec, deb)
	rel, err := hub.AddRelease(t.Context(), e.store, e.opts.ReleaseFiles, deb, sig, o)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(deb)
	get := func(path, token, rng string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	path := hub.ReleasePath(rel.Version, rel.Arch)
	if path != "/v1/releases/1:2.0~rc1/amd64" {
		t.Errorf("ReleasePath = %s", path)
	}
	resp, body := get(path, e.creds.Token, "")
	if resp.StatusCode != 200 || !bytes.Equal(body, want) || resp.Header.Get("Accept-Ranges") != "bytes" || resp.Header.Get("ETag") != `"`+rel.SHA256+`"` {
		t.Fatalf("GET = %d, %d bytes, headers %v", resp.StatusCode, len(body), resp.Header)
	}
	resp, part := get(path, e.creds.Token, "bytes=250000-")
	if resp.StatusCode != 206 || !bytes.Equal(part, want[250000:]) {
		t.Fatalf("GET from 250000 = %d, %d bytes", resp.StatusCode, len(part))
	}
	resumed := append(append([]byte(nil), want[:250000]...), part...)
	if _, err := debpkg.Verify(bytes.NewReader(resumed), rel.Signature, o.Keys); err != nil {
		t.Errorf("the resumed download does not verify: %v", err)
	}
	for _, tt := range []struct {
		path, token string
		status      int
	}{
		{path, "", 401},
		{path, "not-a-token", 401},
		{"/v1/releases/2.0/amd64", e.creds.Token, 404},
		{"/v1/releases/1:2.0~rc1/arm64", e.creds.Token, 404},
		{"/v1/releases/v2/amd64", e.creds.Token, 400},
		{"/v1/releases/2.0/AMD64", e.creds.Token, 400},
	} {
		if resp, b := get(tt.path, tt.token, ""); resp.StatusCode != tt.status || bytes.Contains(b, want[:64]) {
			t.Errorf("GET %s (token %q) = %d %.80s, want %d", tt.path, tt.token, resp.StatusCode, b, tt.status)
		}
	}
}

// BenchmarkReleaseDownload200 is 200 mirrors fetching a 30 MB release at once from one hub
// (loopback, SQLite and a release directory). It reports the time for all 200 and how much
// the process's peak RSS grew: streamed from the file, that stays a few megabytes, where a hub
// that read the release into memory per download would need 200 × 30 MB.
func BenchmarkReleaseDownload200(b *testing.B) {
	files := hubstore.DirFiles(filepath.Join(b.TempDir(), "releases"))
	e := newEnv(b, func(o *hub.Options) { o.ReleaseFiles = files })
	pub, sec := debtest.Keypair(b)
	keys, err := debpkg.ParseKeys([]string{debtest.PublicKey(b, pub)})
	if err != nil {
		b.Fatal(err)
	}
	deb := debtest.Build(b, debtest.Package{Name: "fitmirror-agent", Version: "3.0", Arch: "arm64", Payload: 30 << 20})
	_, sig := debtest.Sign(b, sec, deb)
	rel, err := hub.AddRelease(b.Context(), e.store, files, deb, sig, hub.AddReleaseOptions{Keys: keys})
	if err != nil {
		b.Fatal(err)
	}
	const mirrors = 200
	tr := &http.Transport{MaxIdleConnsPerHost: mirrors, MaxConnsPerHost: mirrors}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	url := e.srv.URL + hub.ReleasePath(rel.Version, rel.Arch)
	base := peakRSS(b)
	b.ResetTimer()
	for range b.N {
		var wg sync.WaitGroup
		errs := make(chan error, mirrors)
		for range mirrors {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("GET", url, nil)
				req.Header.Set("Authorization", "Bearer "+e.creds.Token)
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				defer resp.Body.Close()
				if n, err := io.Copy(io.Discard, resp.Body); err != nil || n != rel.Size {
					errs <- fmt.Errorf("got %d bytes, %v", n, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(peakRSS(b)-base)/(1<<20), "peak-RSS-growth-MiB")
	b.ReportMetric(float64(rel.Size)*mirrors/(1<<20), "MiB-served/op")
}

// peakRSS is the process's peak resident set (VmHWM), in bytes.
func peakRSS(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb << 10
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}
