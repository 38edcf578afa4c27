package hubstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
)

// ReleaseStore keeps the signed software releases the hub serves to the mirrors
// (docs/updates.md): one row per version and architecture. Their bytes are in [Files].
// sqlite.Store and postgres.Store implement it; storetest.RunReleases is its suite.
type ReleaseStore interface {
	// AddRelease records a release; ErrExists when its version and architecture are taken.
	AddRelease(ctx context.Context, r Release) error
	// Release returns one release, or ErrNotFound.
	Release(ctx context.Context, version, arch string) (Release, error)
	// Releases lists every release, newest first.
	Releases(ctx context.Context) ([]Release, error)
}

// Release is a signed .deb the hub serves.
type Release struct {
	Version   string // the package's Version field
	Arch      string // its Architecture field
	Package   string // its Package field
	SHA256    string // hex, of the .deb
	Size      int64
	Signature string // the .minisig file's text
	KeyID     string // the minisign key that signed it (16 hex digits)
	CreatedAt time.Time
}

// FileKey is where the release's bytes are kept in Files.
func (r Release) FileKey() string {
	return "release-" + strings.ReplaceAll(r.Version, ":", "%3a") + "-" + r.Arch + "-" + r.SHA256[:min(16, len(r.SHA256))] + ".deb"
}

// Files keeps large files (releases) streamed: neither Create nor a read holds a whole file in
// memory. DirFiles keeps them in a directory, postgres.Store.Files in the database in chunks,
// s3blobs.Bucket in a bucket.
type Files interface {
	// Create stores what r yields (size bytes; a different count is an error and stores
	// nothing) under key, durably; it returns the SHA-256 (hex) of what it stored.
	Create(ctx context.Context, key string, r io.Reader, size int64) (sha string, err error)
	// Open returns the file at key, or ErrNotFound.
	Open(ctx context.Context, key string) (File, error)
	// Delete forgets key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// File is an open stored file: read at any offset (http.ServeContent over an
// io.SectionReader serves ranges from it).
type File interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// DirFiles keeps files in one directory (beside a SQLite store). Creates are atomic and
// fsynced: a temporary file, renamed, the directory synced.
type DirFiles string

var _ Files = DirFiles("")

func (d DirFiles) path(key string) (string, error) { return DirBlobs(d).path(key) }

func (d DirFiles) Create(ctx context.Context, key string, r io.Reader, size int64) (string, error) {
	p, err := d.path(key)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(string(d), 0o700); err != nil {
		return "", fmt.Errorf("hub: %w", err)
	}
	tmp, err := os.CreateTemp(string(d), partialPrefix+"*")
	if err != nil {
		return "", fmt.Errorf("hub: %w", err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, size+1))
	if err != nil {
		return "", fmt.Errorf("hub: write %s: %w", key, err)
	}
	if n != size {
		return "", fmt.Errorf("hub: %s: got %d bytes, want %d", key, n, size)
	}
	if err := tmp.Sync(); err != nil {
		return "", fmt.Errorf("hub: write %s: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("hub: write %s: %w", key, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return "", fmt.Errorf("hub: %w", err)
	}
	done = true
	if dir, err := os.Open(string(d)); err == nil {
		dir.Sync()
		dir.Close()
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

type osFile struct {
	*os.File
	size int64
}

func (f osFile) Size() int64 { return f.size }

func (d DirFiles) Open(_ context.Context, key string) (File, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return osFile{f, fi.Size()}, nil
}

func (d DirFiles) Delete(_ context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
