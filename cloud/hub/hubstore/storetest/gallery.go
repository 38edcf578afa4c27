package storetest

import (
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
)

// RunGallery runs the cases of a gallery store: a shopper's photos come from the events that
// made them viewers, newest first, and only theirs.
func RunGallery(t *testing.T, st interface {
	hubstore.Store
	hubstore.GalleryStore
}) {
	ctx := t.Context()
	for i, p := range []hubstore.Photo{
		{ID: "P1", DeviceID: "m1", SessionID: "S1", SHA256: "aa", Size: 1, CreatedAt: at},
		{ID: "P2", DeviceID: "m1", SessionID: "S1", SHA256: "bb", Size: 2, CreatedAt: at.Add(time.Minute)},
		{ID: "P3", DeviceID: "m2", SessionID: "S2", SHA256: "cc", Size: 3, CreatedAt: at.Add(time.Hour)},
	} {
		if _, err := st.PutPhoto(ctx, p); err != nil {
			t.Fatal(err)
		}
		users := []string{"u1"}
		if i == 0 {
			users = append(users, "u2") // two shoppers scanned P1's code
		}
		for _, u := range users {
			if _, _, err := st.RecordEvent(ctx, event("k-"+p.ID+u, "B-"+p.ID+u, p.ID, u, at)); err != nil {
				t.Fatal(err)
			}
		}
	}
	ids := func(user string) []string {
		ps, err := st.ViewerPhotos(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range ps {
			out = append(out, p.ID)
		}
		return out
	}
	if got := ids("u1"); len(got) != 3 || got[0] != "P3" || got[1] != "P2" || got[2] != "P1" {
		t.Errorf("ViewerPhotos(u1) = %v, want P3 P2 P1", got)
	}
	if got := ids("u2"); len(got) != 1 || got[0] != "P1" {
		t.Errorf("ViewerPhotos(u2) = %v, want P1", got)
	}
	if got := ids("u3"); len(got) != 0 {
		t.Errorf("ViewerPhotos(u3) = %v, want none", got)
	}
	if left, err := st.RemoveViewer(ctx, "P1", "u1"); err != nil || left != 1 {
		t.Errorf("RemoveViewer(P1, u1) = %d, %v; want 1 left (u2)", left, err)
	}
	if ok, _ := st.IsViewer(ctx, "P1", "u1"); ok {
		t.Error("u1 still views P1")
	}
	if left, err := st.RemoveViewer(ctx, "P3", "u1"); err != nil || left != 0 {
		t.Errorf("RemoveViewer(P3, u1) = %d, %v; want 0 left", left, err)
	}
	if left, err := st.RemoveViewer(ctx, "P3", "u1"); err != nil || left != 0 {
		t.Errorf("RemoveViewer again = %d, %v; want 0, nil", left, err)
	}
	if err := st.DeletePhoto(ctx, "P2"); err != nil {
		t.Fatal(err)
	}
	if got := ids("u1"); len(got) != 0 {
		t.Errorf("ViewerPhotos(u1) after the removals = %v, want none", got)
	}
}
