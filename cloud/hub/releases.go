package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"time"

	"aead.dev/minisign"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
	"github.com/fitmirror/fitmirror/internal/debpkg"
	"github.com/fitmirror/fitmirror/internal/httpjson"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// Software releases (docs/updates.md): signed .deb packages the operator adds with
// `mirror-cloud release add`, which the mirrors fetch at GET /v1/releases/{version}/{arch}
// with their token. A release is streamed from its file, with ranges for resuming, and never
// held in memory.

// The hub's names for the release store and files.
type (
	Release      = hubstore.Release
	ReleaseStore = hubstore.ReleaseStore
	Files        = hubstore.Files
)

// archRE is a Debian architecture name (amd64, arm64, armhf, all).
var archRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// ReleasePath is where a device fetches a release: the URL path of its update command.
func ReleasePath(version, arch string) string { return wire.ReleasePath(version, arch) }

// AddReleaseOptions are what AddRelease checks a package against.
type AddReleaseOptions struct {
	Keys []minisign.PublicKey // updates.public_keys: a release must be signed by one of them
	// Package, when set, is the package name a release must carry ("fitmirror-agent").
	Package string
	Now     func() time.Time // nil = time.Now
}

// AddRelease checks the .deb at path and its minisign signature (the .minisig file's text),
// then stores it in files and records it in st. It refuses, with one line saying why, a
// file that is not a Debian package, a signature that does not verify against o.Keys (an
// unsigned or changed package), another package's name, and a version and architecture that
// are stored already. The file is read in passes, never whole into memory.
func AddRelease(ctx context.Context, st ReleaseStore, files Files, path, signature string, o AddReleaseOptions) (Release, error) {
	f, err := os.Open(path)
	if err != nil {
		return Release{}, err
	}
	defer f.Close()
	ctl, err := debpkg.ReadControl(f)
	if err != nil {
		return Release{}, fmt.Errorf("%s: %w", path, err)
	}
	if o.Package != "" && ctl.Package != o.Package {
		return Release{}, fmt.Errorf("%s: package %q, want %q", path, ctl.Package, o.Package)
	}
	if !archRE.MatchString(ctl.Architecture) {
		return Release{}, fmt.Errorf("%s: architecture %q is not a Debian architecture name", path, ctl.Architecture)
	}
	if len(o.Keys) == 0 {
		return Release{}, errors.New("no updates.public_keys configured: the hub accepts only releases signed by one of them")
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return Release{}, err
	}
	v, err := debpkg.Verify(f, signature, o.Keys)
	if err != nil {
		return Release{}, fmt.Errorf("%s: %w", path, err)
	}
	if old, err := st.Release(ctx, ctl.Version, ctl.Architecture); err == nil {
		return Release{}, fmt.Errorf("release %s (%s) is stored already, added %s with sha256 %s: a new build needs a new version",
			old.Version, old.Arch, old.CreatedAt.Format(time.RFC3339), old.SHA256)
	} else if !errors.Is(err, hubstore.ErrNotFound) {
		return Release{}, err
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	rel := Release{Version: ctl.Version, Arch: ctl.Architecture, Package: ctl.Package, SHA256: v.SHA256, Size: v.Size,
		Signature: signature, KeyID: v.KeyID, CreatedAt: now().UTC().Truncate(time.Millisecond)}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return Release{}, err
	}
	sha, err := files.Create(ctx, rel.FileKey(), f, rel.Size)
	if err != nil {
		return Release{}, err
	}
	if sha != rel.SHA256 { // the file changed between the passes
		files.Delete(ctx, rel.FileKey())
		return Release{}, fmt.Errorf("%s changed while it was being added (sha256 %s, then %s): add it again", path, rel.SHA256, sha)
	}
	if err := st.AddRelease(ctx, rel); err != nil {
		if old, e := st.Release(ctx, rel.Version, rel.Arch); e != nil || old.FileKey() != rel.FileKey() {
			files.Delete(ctx, rel.FileKey()) // another one won the race; its file is not ours
		}
		if errors.Is(err, hubstore.ErrExists) {
			return Release{}, fmt.Errorf("release %s (%s) was stored at the same time by someone else", rel.Version, rel.Arch)
		}
		return Release{}, err
	}
	return rel, nil
}

// getRelease serves GET /v1/releases/{version}/{arch} to a device: the .deb, with ranges.
func (h *Hub) getRelease(w http.ResponseWriter, r *http.Request) {
	d, ok := h.authDevice(w, r)
	if !ok {
		return
	}
	version, arch := r.PathValue("version"), r.PathValue("arch")
	if err := debpkg.ValidVersion(version); err != nil {
		httpjson.Error(w, http.StatusBadRequest, wire.CodeBadRequest, err.Error())
		return
	}
	if !archRE.MatchString(arch) {
		httpjson.Error(w, http.StatusBadRequest, wire.CodeBadRequest, fmt.Sprintf("architecture %q: want a Debian architecture name", arch))
		return
	}
	if h.opts.Releases == nil || h.opts.ReleaseFiles == nil {
		httpjson.Error(w, http.StatusNotFound, wire.CodeNotFound, "this hub keeps no releases")
		return
	}
	rel, err := h.opts.Releases.Release(r.Context(), version, arch)
	if errors.Is(err, hubstore.ErrNotFound) {
		httpjson.Error(w, http.StatusNotFound, wire.CodeNotFound, fmt.Sprintf("no release %s for %s", version, arch))
		return
	}
	if err != nil {
		h.log.Error("hub: release lookup", "err", err)
		httpjson.Error(w, http.StatusServiceUnavailable, wire.CodeUnavailable, "release store unavailable")
		return
	}
	f, err := h.opts.ReleaseFiles.Open(r.Context(), rel.FileKey())
	if err != nil {
		h.log.Error("hub: release file missing", "version", version, "arch", arch, "err", err)
		httpjson.Error(w, http.StatusServiceUnavailable, wire.CodeUnavailable, "release file unavailable")
		return
	}
	defer f.Close()
	h.log.Debug("hub: release download", "device", d.ID, "version", version, "arch", arch, "range", r.Header.Get("Range"))
	w.Header().Set("Content-Type", "application/vnd.debian.binary-package")
	w.Header().Set("ETag", `"`+rel.SHA256+`"`)
	w.Header().Set("Cache-Control", "private, no-transform")
	http.ServeContent(w, r, "", rel.CreatedAt, io.NewSectionReader(f, 0, f.Size()))
}
