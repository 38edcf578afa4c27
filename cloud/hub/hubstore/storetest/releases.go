package storetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
)

// RunReleases runs the cases of a release store.
func RunReleases(t *testing.T, st hubstore.ReleaseStore) {
	ctx := t.Context()
	if _, err := st.Release(ctx, "1.0", "amd64"); !errors.Is(err, hubstore.ErrNotFound) {
		t.Errorf("Release of a missing version = %v, want ErrNotFound", err)
	}
	if l, err := st.Releases(ctx); err != nil || len(l) != 0 {
		t.Errorf("Releases of an empty store = %v, %v", l, err)
	}
	r1 := hubstore.Release{Version: "1:1.0-1~rc1", Arch: "arm64", Package: "fitmirror-agent", SHA256: strings.Repeat("ab", 32), Size: 31 << 20,
		Signature: "untrusted comment: x\nRUQ…\ntrusted comment: y\nz\n", KeyID: "0123456789ABCDEF", CreatedAt: at}
	r2 := r1
	r2.Arch, r2.CreatedAt = "amd64", at.Add(time.Second)
	r3 := r1
	r3.Version, r3.CreatedAt = "1:1.1", at.Add(2*time.Second)
	for _, r := range []hubstore.Release{r1, r2, r3} {
		if err := st.AddRelease(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	dup := r1
	dup.SHA256 = strings.Repeat("cd", 32)
	if err := st.AddRelease(ctx, dup); !errors.Is(err, hubstore.ErrExists) {
		t.Errorf("AddRelease of a taken version and arch = %v, want ErrExists", err)
	}
	if got, err := st.Release(ctx, r1.Version, "arm64"); err != nil || got != r1 {
		t.Errorf("Release = %+v, %v; want %+v", got, err, r1)
	}
	l, err := st.Releases(ctx)
	if err != nil || len(l) != 3 || l[0] != r3 || l[1] != r2 || l[2] != r1 {
		t.Errorf("Releases = %+v, %v; want newest first", l, err)
	}
}

// RunFiles runs the cases of a large-file store.
func RunFiles(t *testing.T, f hubstore.Files) {
	ctx := t.Context()
	if _, err := f.Open(ctx, "release-1.0-amd64-0123456789abcdef.deb"); !errors.Is(err, hubstore.ErrNotFound) {
		t.Errorf("Open of a missing key = %v, want ErrNotFound", err)
	}
	data := make([]byte, 1<<20+12345) // more than a few chunks of any backend
	for i := range data {
		data[i] = byte(i * 7 / 3)
	}
	sum := sha256.Sum256(data)
	key := "release-1.0-amd64-0123456789abcdef.deb"
	sha, err := f.Create(ctx, key, bytes.NewReader(data), int64(len(data)))
	if err != nil || sha != hex.EncodeToString(sum[:]) {
		t.Fatalf("Create = %s, %v; want sha256 %x", sha, err, sum)
	}
	file, err := f.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if file.Size() != int64(len(data)) {
		t.Errorf("Size = %d, want %d", file.Size(), len(data))
	}
	got, err := io.ReadAll(io.NewSectionReader(file, 0, file.Size()))
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("read back %d bytes, %v; want the %d created", len(got), err, len(data))
	}
	for _, r := range [][2]int64{{0, 1}, {262143, 2}, {300000, 700000}, {int64(len(data)) - 5, 5}} {
		p := make([]byte, r[1])
		if n, err := file.ReadAt(p, r[0]); (err != nil && err != io.EOF) || n != len(p) || !bytes.Equal(p, data[r[0]:r[0]+r[1]]) {
			t.Errorf("ReadAt(%d bytes at %d) = %d, %v", r[1], r[0], n, err)
		}
	}
	if n, err := file.ReadAt(make([]byte, 10), int64(len(data))-4); n != 4 || err != io.EOF {
		t.Errorf("ReadAt past the end = %d, %v; want 4, io.EOF", n, err)
	}
	file.Close()
	if _, err := f.Create(ctx, "release-short.deb", bytes.NewReader(data[:100]), 200); err == nil {
		t.Error("Create with fewer bytes than announced succeeded")
	}
	if _, err := f.Create(ctx, "release-long.deb", bytes.NewReader(data[:300]), 200); err == nil {
		t.Error("Create with more bytes than announced succeeded")
	}
	for _, k := range []string{"release-short.deb", "release-long.deb"} {
		if _, err := f.Open(ctx, k); !errors.Is(err, hubstore.ErrNotFound) {
			t.Errorf("a failed Create left %s: %v", k, err)
		}
	}
	if err := f.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Open(ctx, key); !errors.Is(err, hubstore.ErrNotFound) {
		t.Errorf("Open after Delete = %v, want ErrNotFound", err)
	}
	if err := f.Delete(ctx, key); err != nil {
		t.Errorf("Delete of a missing key = %v", err)
	}
}

// RunRollouts runs the cases of a rollout store.
func RunRollouts(t *testing.T, st hubstore.RolloutStore) {
	ctx := t.Context()
	if _, err := st.Rollout(ctx, "r1"); !errors.Is(err, hubstore.ErrNotFound) {
		t.Errorf("Rollout of a missing ID = %v, want ErrNotFound", err)
	}
	r1 := hubstore.StoredRollout{ID: "r1", State: "running", Doc: []byte(`{"a":1}`), CreatedAt: at}
	r2 := hubstore.StoredRollout{ID: "r2", State: "running", Doc: []byte(`{"b":2}`), CreatedAt: at.Add(time.Second)}
	for _, r := range []hubstore.StoredRollout{r1, r2} {
		if err := st.CreateRollout(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CreateRollout(ctx, r1); !errors.Is(err, hubstore.ErrExists) {
		t.Errorf("CreateRollout of a taken ID = %v, want ErrExists", err)
	}
	got, err := st.Rollout(ctx, "r1")
	if err != nil || got.Rev != 1 || string(got.Doc) != `{"a":1}` || got.State != "running" || !got.CreatedAt.Equal(at) {
		t.Fatalf("Rollout = %+v, %v", got, err)
	}
	// Two replicas read revision 1; the first write wins, the second is refused.
	a, b := got, got
	a.Doc, a.State = []byte(`{"a":2}`), "done"
	b.Doc = []byte(`{"a":3}`)
	if rev, err := st.UpdateRollout(ctx, a); err != nil || rev != 2 {
		t.Fatalf("UpdateRollout = %d, %v; want revision 2", rev, err)
	}
	if _, err := st.UpdateRollout(ctx, b); !errors.Is(err, hubstore.ErrConflict) {
		t.Errorf("UpdateRollout on a stale revision = %v, want ErrConflict", err)
	}
	if _, err := st.UpdateRollout(ctx, hubstore.StoredRollout{ID: "r9", Rev: 1}); !errors.Is(err, hubstore.ErrNotFound) {
		t.Errorf("UpdateRollout of a missing ID = %v, want ErrNotFound", err)
	}
	if got, _ := st.Rollout(ctx, "r1"); got.Rev != 2 || string(got.Doc) != `{"a":2}` || got.State != "done" {
		t.Errorf("after the update: %+v", got)
	}
	all, err := st.Rollouts(ctx, false)
	if err != nil || len(all) != 2 || all[0].ID != "r2" || all[1].ID != "r1" {
		t.Errorf("Rollouts = %+v, %v; want r2, r1", all, err)
	}
	if running, err := st.Rollouts(ctx, true); err != nil || len(running) != 1 || running[0].ID != "r2" {
		t.Errorf("running Rollouts = %+v, %v; want r2", running, err)
	}
	for _, p := range [][2]string{{"m1", "1.0"}, {"m2", "1.1"}, {"m1", "1.2"}, {"m2", ""}} {
		if err := st.SetPin(ctx, p[0], p[1]); err != nil {
			t.Fatal(err)
		}
	}
	if pins, err := st.Pins(ctx); err != nil || len(pins) != 1 || pins["m1"] != "1.2" {
		t.Errorf("Pins = %v, %v; want m1 at 1.2", pins, err)
	}
}
