// Package debtest makes real Debian packages (dpkg-deb) and real minisign keys and signatures
// (the minisign command) for tests.
package debtest

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Package describes a package Build makes.
type Package struct {
	Name, Version, Arch string
	// Payload is how many bytes of random data the package carries (random: they do not
	// compress, so the .deb is about that large).
	Payload int
	// Compression is dpkg-deb's -Z (xz, gzip, zstd, none); "" = xz.
	Compression string
}

// Build makes the .deb p with dpkg-deb in a temporary directory and returns its path.
func Build(t testing.TB, p Package) string {
	t.Helper()
	if p.Compression == "" {
		p.Compression = "xz"
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	doc := filepath.Join(root, "usr/share/doc", p.Name)
	for _, d := range []string{filepath.Join(root, "DEBIAN"), doc} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: fitmirror <dev@fitmirror.invalid>\nDescription: test package\n a second line\n",
		p.Name, p.Version, p.Arch)
	if err := os.WriteFile(filepath.Join(root, "DEBIAN/control"), []byte(control), 0o644); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, p.Payload)
	rand.Read(payload)
	if err := os.WriteFile(filepath.Join(doc, "payload"), payload, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, fmt.Sprintf("%s_%s_%s.deb", p.Name, p.Version, p.Arch))
	// -z0 with xz/gzip: the random payload does not compress; building is then quick.
	args := []string{"--root-owner-group", "-Z" + p.Compression, "--build", root, out}
	if p.Compression == "xz" || p.Compression == "gzip" {
		args = append([]string{"-z0"}, args...)
	}
	if b, err := exec.Command("dpkg-deb", args...).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb: %v\n%s", err, b)
	}
	return out
}

// Keypair makes a minisign key pair without a password (minisign -G -W) and returns the
// paths of the public and secret key files.
func Keypair(t testing.TB) (pub, sec string) {
	t.Helper()
	dir := t.TempDir()
	pub, sec = filepath.Join(dir, "fitmirror.pub"), filepath.Join(dir, "fitmirror.key")
	if b, err := exec.Command("minisign", "-G", "-W", "-p", pub, "-s", sec).CombinedOutput(); err != nil {
		t.Fatalf("minisign -G: %v\n%s", err, b)
	}
	return pub, sec
}

// Sign signs file with the secret key sec (minisign -S, extra flags after) and returns the
// signature file's path (file.minisig) and text.
func Sign(t testing.TB, sec, file string, extra ...string) (path, text string) {
	t.Helper()
	path = file + ".minisig"
	args := append([]string{"-S", "-s", sec, "-m", file, "-x", path}, extra...)
	if b, err := exec.Command("minisign", args...).CombinedOutput(); err != nil {
		t.Fatalf("minisign -S: %v\n%s", err, b)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, string(b)
}

// PublicKey returns the text of the public key file pub.
func PublicKey(t testing.TB, pub string) string {
	t.Helper()
	b, err := os.ReadFile(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
