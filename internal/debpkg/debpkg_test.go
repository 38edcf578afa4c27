package debpkg_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/fitmirror/fitmirror/internal/debpkg"
	"github.com/fitmirror/fitmirror/internal/debpkg/debtest"
)

func build(t *testing.T, version, arch, z string) string {
	return debtest.Build(t, debtest.Package{Name: "fitmirror-test", Version: version, Arch: arch, Payload: 3001, Compression: z})
}

func TestReadControlOfRealPackages(t *testing.T) {
	for _, z := range []string{"xz", "gzip", "zstd", "none"} {
		f, err := os.Open(build(t, "1:2.3.4-1~rc1", "arm64", z))
		if err != nil {
			t.Fatal(err)
		}
		c, err := debpkg.ReadControl(f)
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", z, err)
			continue
		}
		if c != (debpkg.Control{Package: "fitmirror-test", Version: "1:2.3.4-1~rc1", Architecture: "arm64"}) {
			t.Errorf("%s: %+v", z, c)
		}
	}
}

func TestReadControlRefusesWhatIsNoPackage(t *testing.T) {
	deb, err := os.ReadFile(build(t, "1.0", "amd64", "xz"))
	if err != nil {
		t.Fatal(err)
	}
	for name, tt := range map[string]struct {
		data []byte
		want string
	}{
		"empty":          {nil, "no ar archive header"},
		"html":           {[]byte("<html>hello</html>"), "no ar archive header"},
		"truncated":      {deb[:100], "truncated ar header"},
		"cut in control": {deb[:200], "control.tar.xz"},
		"ar only":        {[]byte("!<arch>\n"), "no control.tar member"},
		"bad size":       {append([]byte("!<arch>\n"), []byte("debian-binary   0           0     0     100644  x         `\n")...), "bad size"},
		"other ar":       {append([]byte("!<arch>\n"), []byte("hello.txt/      0           0     0     100644  2         `\nhi")...), "first member"},
	} {
		if _, err := debpkg.ReadControl(bytes.NewReader(tt.data)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want it to say %q", name, err, tt.want)
		}
	}
}

// TestCompareVersionsAsDpkg checks CompareVersions against dpkg --compare-versions itself.
func TestCompareVersionsAsDpkg(t *testing.T) {
	vs := []string{"1.0", "1.0-1", "1.0-2", "1.0~rc1", "1.0~~", "1.0+b1", "1.0.1", "1.00", "1:0.9", "0:1.0", "1.0a", "1.0-1ubuntu1",
		"2.10", "2.9", "2.9.a", "2.9+git20260101", "0.1~dev-3", "10", "9.99", "1.0-1~bpo1", "1.0-10"}
	for _, a := range vs {
		for _, b := range vs {
			want := 0
			if exec.Command("dpkg", "--compare-versions", a, "lt", b).Run() == nil {
				want = -1
			} else if exec.Command("dpkg", "--compare-versions", a, "gt", b).Run() == nil {
				want = 1
			}
			if got := debpkg.CompareVersions(a, b); got != want {
				t.Errorf("CompareVersions(%q, %q) = %d, dpkg says %d", a, b, got, want)
			}
		}
	}
}

func TestValidVersion(t *testing.T) {
	for _, v := range []string{"1.0", "1:2.3-4~rc1", "0.1+git.20260101-1"} {
		if err := debpkg.ValidVersion(v); err != nil {
			t.Errorf("%q: %v", v, err)
		}
	}
	for _, v := range []string{"", "v1.0", "a:1.0", "1.0 beta", "1.0/2", "1.0\n", strings.Repeat("1", 129)} {
		if err := debpkg.ValidVersion(v); err == nil {
			t.Errorf("%q accepted", v)
		}
	}
}

func keypair(t *testing.T) (pub, sec string) { return debtest.Keypair(t) }

func sign(t *testing.T, sec, file string, extra ...string) string {
	_, text := debtest.Sign(t, sec, file, extra...)
	return text
}

// TestVerifyRealSignatures: signatures made by the minisign command verify against the key
// (of two, as during a key rotation), and a changed file, another key, a legacy signature and
// garbage are refused, each saying why.
func TestVerifyRealSignatures(t *testing.T) {
	pub1, sec1 := keypair(t)
	pub2, sec2 := keypair(t)
	other, secOther := keypair(t)
	read := func(p string) string { b, _ := os.ReadFile(p); return string(b) }
	keys, err := debpkg.ParseKeys([]string{read(pub1), strings.Split(strings.TrimSpace(read(pub2)), "\n")[1]})
	if err != nil {
		t.Fatal(err)
	}
	deb := build(t, "1.2", "amd64", "xz")
	data, _ := os.ReadFile(deb)
	for _, sec := range []string{sec1, sec2} {
		v, err := debpkg.Verify(bytes.NewReader(data), sign(t, sec, deb), keys)
		if err != nil {
			t.Fatalf("a good signature: %v", err)
		}
		if v.Size != int64(len(data)) || len(v.SHA256) != 64 || !strings.Contains(v.TrustedComment, "fitmirror-test_1.2_amd64.deb") {
			t.Errorf("verified %+v", v)
		}
	}
	good := sign(t, sec1, deb)
	tampered := append([]byte(nil), data...)
	tampered[len(tampered)-10] ^= 1
	otherKeys, _ := debpkg.ParseKeys([]string{read(other)})
	for name, tt := range map[string]struct {
		data []byte
		sig  string
		keys any
		want string
	}{
		"tampered":  {tampered, good, nil, "does not match the file"},
		"other key": {data, sign(t, secOther, deb), nil, "not one of the configured public keys"},
		"legacy":    {data, sign(t, sec1, deb, "-l"), nil, "legacy"},
		"garbage":   {data, "hello", nil, "not a minisign signature"},
		"wrong set": {data, good, otherKeys, "not one of the configured public keys"},
	} {
		k := keys
		if tt.keys != nil {
			k = otherKeys
		}
		_, err := debpkg.Verify(bytes.NewReader(tt.data), tt.sig, k)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, debpkg.ErrBadSignature) {
			t.Errorf("%s: error %v, want a bad signature saying %q", name, err, tt.want)
		}
	}
	if _, err := debpkg.ParseKeys([]string{"RWQnotakey"}); err == nil || !strings.Contains(err.Error(), "public key 1") {
		t.Errorf("a bad key: %v", err)
	}
}
