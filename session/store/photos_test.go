package store

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestPhotosPutOpenDelete(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "photos")
	// A temporary file left by a crash mid-write must not survive a reopen.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".tmp-X-1"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	ps, err := OpenPhotos(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".tmp-X-1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover temp file still there: %v", err)
	}
	want := []byte("\xff\xd8jpeg bytes\xff\xd9")
	if err := ps.Put("01JD0000000000000000000000", want); err != nil {
		t.Fatalf("Put = %v", err)
	}
	f, err := ps.Open("01JD0000000000000000000000")
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(got, want) {
		t.Errorf("Open read %q, want %q", got, want)
	}
	fi, err := os.Stat(filepath.Join(dir, "01JD0000000000000000000000.jpg"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("photo file mode = %v, %v; want 0600 (photos are private)", fi.Mode().Perm(), err)
	}
	if err := ps.Delete("01JD0000000000000000000000"); err != nil {
		t.Fatalf("Delete = %v", err)
	}
	if _, err := ps.Open("01JD0000000000000000000000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open after Delete = %v, want ErrNotFound", err)
	}
	if err := ps.Delete("01JD0000000000000000000000"); err != nil {
		t.Errorf("second Delete = %v, want nil", err)
	}
}

func TestPhotosRejectsBadIDs(t *testing.T) {
	ps, err := OpenPhotos(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"", "../etc/passwd", "a/b", "x.jpg", string(make([]byte, 65))} {
		if err := ps.Put(id, []byte("x")); err == nil {
			t.Errorf("Put(%q) = nil, want error", id)
		}
		if _, err := ps.Open(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open(%q) = %v, want ErrNotFound", id, err)
		}
	}
}
