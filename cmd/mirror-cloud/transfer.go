package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/postgres"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/s3blobs"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/sqlite"
	"github.com/fitmirror/fitmirror/cmd/internal/config"
)

// migrate moves the SQLite hub of state_dir (database and photo files) into PostgreSQL at to
// (or database.url): the step from one instance to replicas. Stop the hub first. It can run
// again: what the target holds already is skipped.
func migrate(ctx context.Context, cfg *Config, to string, stdout io.Writer) error {
	if to == "" {
		to = cfg.Database.URL
	}
	if to == "" {
		return errors.New("migrate: want --to postgres://… (or database.url) naming the PostgreSQL database to move into")
	}
	check := *cfg
	check.Database.URL = to
	if err := check.Validate(); err != nil {
		return fmt.Errorf("migrate: --to: %w", err)
	}
	if _, err := os.Stat(cfg.dbPath()); err != nil {
		return fmt.Errorf("migrate: no SQLite hub at %s (state_dir): %w", cfg.dbPath(), err)
	}
	src, err := sqlite.Open(cfg.dbPath())
	if err != nil {
		return err
	}
	defer src.Close()
	octx, cancel := context.WithTimeout(ctx, time.Minute)
	dst, err := postgres.Open(octx, to)
	cancel()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer dst.Close()
	var dstBlobs hubstore.Blobs = dst.Blobs()
	if cfg.Photos.URL != "" { // the replicas will keep their photos in the bucket
		b, err := s3blobs.Open(ctx, cfg.Photos.URL)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		dstBlobs = b
	}
	c, err := hubstore.Copy(ctx, src, hubstore.DirBlobs(cfg.photoDir()), dst, dstBlobs)
	if err != nil {
		return fmt.Errorf("migrate: %w (what was copied stays; run it again to finish)", err)
	}
	fmt.Fprintf(stdout, "migrated %s from %s into %s\nnow set database.url to it on every replica; %s is no longer used\n",
		c, cfg.StateDir, config.RedactURL(to), cfg.dbPath())
	return nil
}

// export writes the configured hub (SQLite in state_dir, or database.url) as JSON lines.
func export(ctx context.Context, cfg *Config, out string, stdout, stderr io.Writer) error {
	if cfg.Database.URL == "" {
		if _, err := os.Stat(cfg.dbPath()); err != nil {
			return fmt.Errorf("export: no hub at %s (state_dir): %w", cfg.dbPath(), err)
		}
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	w := stdout
	var f *os.File
	if out != "" {
		// Credential hashes, secrets and photos: as private as the database.
		if f, err = os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	c, err := hubstore.Export(ctx, st.Store, st.photos, bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil && f != nil {
		err = f.Sync()
	}
	if err != nil {
		if f != nil {
			os.Remove(out)
		}
		return fmt.Errorf("export: %w", err)
	}
	fmt.Fprintf(stderr, "exported %s\n", c)
	return nil
}

// importFile loads an export into the configured hub.
func importFile(ctx context.Context, cfg *Config, path string, stdout io.Writer) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("import: %s: no such file", path)
	} else if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	c, err := hubstore.Import(ctx, st.Store, st.photos, bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return fmt.Errorf("%w (what was imported stays; run it again to finish)", err)
	}
	fmt.Fprintf(stdout, "imported %s from %s into %s\n", c, filepath.Base(path), st.where)
	return nil
}
