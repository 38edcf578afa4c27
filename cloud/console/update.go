package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// The update command from the console: POST /api/mirrors/{id}/cmd/update with {"version",
// "allow_downgrade"} sends the mirror the signed release of that version the hub keeps (for
// its architecture, else "all"), with the same arguments a rollout sends (docs/updates.md).
// It is there when the console has the hub's releases (Options.Releases).

// commands are the commands this console sends.
func (c *Console) commands() []string {
	if c.opts.Releases == nil {
		return Commands
	}
	return append(slices.Clip(Commands), wire.CmdUpdate)
}

// errNoRelease: the hub keeps no (single) release of that version for the mirror.
var errNoRelease = errors.New("no release")

// updateArgs reads the update request's body and builds the command's arguments.
func (c *Console) updateArgs(ctx context.Context, w http.ResponseWriter, r *http.Request, id string) (json.RawMessage, error) {
	var body struct {
		Version        string `json:"version"`
		AllowDowngrade bool   `json:"allow_downgrade"`
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Version == "" || len(body.Version) > 128 {
		return nil, errors.New(`want {"version":"…"}, a release the hub keeps`)
	}
	m, _, err := c.mirror(ctx, id)
	if err != nil {
		return nil, errStore
	}
	rel, err := c.release(ctx, body.Version, m.Arch)
	if err != nil {
		return nil, err
	}
	return json.Marshal(wire.UpdateArgs{Version: rel.Version, URL: wire.ReleasePath(rel.Version, rel.Arch),
		SHA256: rel.SHA256, Size: rel.Size, Signature: rel.Signature, AllowDowngrade: body.AllowDowngrade})
}

// release is the release of version for a mirror of arch: its own or "all"; for a mirror that
// names no architecture, the one release of that version.
func (c *Console) release(ctx context.Context, version, arch string) (hubstore.Release, error) {
	if arch != "" {
		for _, a := range []string{arch, "all"} {
			rel, err := c.opts.Releases.Release(ctx, version, a)
			if err == nil {
				return rel, nil
			}
			if !errors.Is(err, hubstore.ErrNotFound) {
				return rel, errStore
			}
		}
		return hubstore.Release{}, fmt.Errorf("%w %s for architecture %s (mirror-cloud release add)", errNoRelease, visible(version), visible(arch))
	}
	rels, err := c.opts.Releases.Releases(ctx)
	if err != nil {
		return hubstore.Release{}, errStore
	}
	var match []hubstore.Release
	for _, rel := range rels {
		if rel.Version == version {
			match = append(match, rel)
		}
	}
	if len(match) != 1 {
		return hubstore.Release{}, fmt.Errorf("%w %s: %d match, and the mirror's status names no architecture", errNoRelease, visible(version), len(match))
	}
	return match[0], nil
}

// updateVersions are the versions the mirror could be updated to (its architecture's and
// "all"), newest first; nil without releases.
func (c *Console) updateVersions(ctx context.Context, m Mirror) []string {
	if c.opts.Releases == nil {
		return nil
	}
	rels, err := c.opts.Releases.Releases(ctx)
	if err != nil {
		return nil
	}
	var out []string
	for _, rel := range rels {
		if (m.Arch == "" || rel.Arch == m.Arch || rel.Arch == "all") && !slices.Contains(out, rel.Version) {
			out = append(out, rel.Version)
		}
	}
	return out
}
