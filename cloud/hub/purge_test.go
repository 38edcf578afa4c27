package hub_test

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/wechat/wechattest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// Photos nobody scanned leave the hub shortly after their QR codes expire; scanned ones after
// the retention period.
func TestPurge(t *testing.T) {
	clk := &clock{t: time.Now()}
	e := newEnv(t, func(o *hub.Options) { o.Now = clk.Now })
	_, ticket := e.upload("P1") // QR codes valid 300 s
	e.upload("P2")
	if st, b := e.do("PUT", "/v1/photos/P3", "image/jpeg", face(t), e.creds.Token); st != 201 { // never got a QR
		t.Fatalf("PUT P3 = %d %s", st, b)
	}
	if _, err := e.fake.Scan(t.Context(), e.callbackURL(), ticket, "o_keep", false, wechattest.Safe); err != nil {
		t.Fatal(err)
	}
	stored := func() map[string]bool {
		got := map[string]bool{}
		for _, id := range []string{"P1", "P2", "P3"} {
			if _, err := e.store.Photo(t.Context(), id); err == nil {
				got[id] = true
			} else if !errors.Is(err, hub.ErrNotFound) {
				t.Fatal(err)
			}
		}
		return got
	}
	files := func() int {
		m, _ := filepath.Glob(filepath.Join(e.dir, "photos", "*.jpg"))
		return len(m)
	}
	steps := []struct {
		advance time.Duration
		want    map[string]bool
		files   int
	}{
		{0, map[string]bool{"P1": true, "P2": true, "P3": true}, 3},
		{14 * time.Minute, map[string]bool{"P1": true, "P2": true}, 2},    // P3: stored 14 min ago, no QR
		{2 * time.Minute, map[string]bool{"P1": true}, 1},                 // P2: QR expired 11 min ago, unscanned
		{7*24*time.Hour - 20*time.Minute, map[string]bool{"P1": true}, 1}, // P1 is scanned: kept a week
		{5 * time.Minute, map[string]bool{}, 0},                           // retention over
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		e.hub.Purge(t.Context())
		got := stored()
		if len(got) != len(s.want) || files() != s.files {
			t.Fatalf("step %d: stored %v with %d files, want %v with %d", i, got, files(), s.want, s.files)
		}
		for id := range s.want {
			if !got[id] {
				t.Fatalf("step %d: %s purged too early", i, id)
			}
		}
	}
	if ok, _ := e.store.IsViewer(t.Context(), "P1", "anyone"); ok {
		t.Error("viewer left behind")
	}
	if _, err := os.Stat(filepath.Join(e.dir, "hub.db")); err != nil {
		t.Fatal(err)
	}
}
