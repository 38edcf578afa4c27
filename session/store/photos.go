// Package store keeps the mirror's photos on local disk, in the state directory.
//
// Photos are written atomically (temporary file, fsync, rename, fsync of the folder), so a
// crash leaves either the whole photo or none of it. Only captured photos are written: camera
// frames never touch the disk.
package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/fitmirror/fitmirror/internal/wire"
)

// ErrNotFound is returned for a photo that is not (or no longer) stored.
var ErrNotFound = errors.New("photo not found")

// Photos is a folder of JPEG files named by photo ID.
type Photos struct {
	dir string
}

// OpenPhotos opens (creating it, mode 0700) the photo folder dir.
func OpenPhotos(dir string) (*Photos, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	// Left-over temporary files are photos whose write never finished: not committed, remove.
	tmps, _ := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	for _, t := range tmps {
		os.Remove(t)
	}
	return &Photos{dir: dir}, nil
}

// Dir is the folder.
func (p *Photos) Dir() string { return p.dir }

// Path is where photo id is (or would be) stored.
func (p *Photos) Path(id string) (string, error) {
	if !wire.ValidPhotoID(id) { // ULIDs, and nothing that could escape the folder
		return "", fmt.Errorf("store: bad photo id %q", id)
	}
	return filepath.Join(p.dir, id+".jpg"), nil
}

// Put stores a photo atomically.
func (p *Photos) Put(id string, jpeg []byte) error {
	path, err := p.Path(id)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(p.dir, ".tmp-"+id+"-*")
	if err != nil {
		return fmt.Errorf("store: put %s: %w", id, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("store: put %s: %w", id, err)
	}
	if _, err := f.Write(jpeg); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("store: put %s: %w", id, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("store: put %s: %w", id, err)
	}
	return syncDir(p.dir)
}

// Open opens a stored photo for reading; ErrNotFound when it is not there.
func (p *Photos) Open(id string) (io.ReadSeekCloser, error) {
	path, err := p.Path(id)
	if err != nil {
		return nil, ErrNotFound
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", id, err)
	}
	return f, nil
}

// Delete removes a photo; deleting one that is not there is not an error.
func (p *Photos) Delete(id string) error {
	path, err := p.Path(id)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: delete %s: %w", id, err)
	}
	return syncDir(p.dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("store: sync %s: %w", dir, err)
	}
	return nil
}
