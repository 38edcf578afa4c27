package session

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fitmirror/fitmirror/display"
	"github.com/fitmirror/fitmirror/internal/wire"
)

type fakeCamera struct{ err error }

func (c *fakeCamera) Capture(ctx context.Context) ([]byte, int, int, error) {
	if c.err != nil {
		return nil, 0, 0, c.err
	}
	time.Sleep(40 * time.Millisecond) // encoding takes a moment (fake time)
	return []byte("\xff\xd8photo\xff\xd9"), 1280, 720, nil
}

type memStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *memStore) Put(id string, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[id] = b
	return nil
}

func (s *memStore) Delete(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
	return nil
}

func (s *memStore) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id := range s.m {
		out = append(out, id)
	}
	return out
}

type fakeProvider struct {
	down  atomic.Bool
	calls atomic.Int32
	mu    sync.Mutex
	ttls  []time.Duration // the ttl of each request
}

func (p *fakeProvider) QR(ctx context.Context, ph Photo, ttl time.Duration) (display.QR, error) {
	n := p.calls.Add(1)
	p.mu.Lock()
	p.ttls = append(p.ttls, ttl)
	p.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	if p.down.Load() {
		return display.QR{}, errors.New("provider down")
	}
	return display.QR{Content: fmt.Sprintf("qr:%s:%d", ph.ID, n), ExpiresAt: time.Now().Add(ttl)}, nil
}

// screens records the scenes shown, collapsing repeats.
type screens struct {
	mu   sync.Mutex
	list []display.Screen
}

func (s *screens) Show(sc display.Screen) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.list = append(s.list, sc)
}

func (s *screens) scenes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, sc := range s.list {
		name := sc.Scene
		if sc.Scene == display.SceneCountdown {
			name = fmt.Sprintf("countdown %d", sc.Countdown)
		}
		if len(out) == 0 || out[len(out)-1] != name {
			out = append(out, name)
		}
	}
	return out
}

func (s *screens) last() display.Screen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.list[len(s.list)-1]
}

type rig struct {
	t        *testing.T
	e        *Engine
	cam      *fakeCamera
	store    *memStore
	prov     *fakeProvider
	scr      *screens
	face     atomic.Bool
	grace    atomic.Int64 // the fake vision's exit grace; 0 = 3 s
	mu       sync.Mutex
	events   []Event
	cancel   context.CancelFunc
	done     chan struct{}
	ctx      context.Context
	idSerial int
}

// newRig starts an engine with fakes and a 10 fps observation feeder; call inside synctest.
func newRig(t *testing.T, cfg Config) *rig {
	r := &rig{t: t, cam: &fakeCamera{}, store: &memStore{m: map[string][]byte{}},
		prov: &fakeProvider{}, scr: &screens{}, done: make(chan struct{})}
	var err error
	r.e, err = New(Options{Config: cfg, Camera: r.cam, Store: r.store, Provider: r.prov, Screen: r.scr,
		Events: func(ev Event) { r.mu.Lock(); r.events = append(r.events, ev); r.mu.Unlock() },
		Logger: slog.New(slog.DiscardHandler),
		NewID: func() string {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.idSerial++
			return fmt.Sprintf("ID%02d", r.idSerial)
		}})
	if err != nil {
		t.Fatal(err)
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	go func() { r.e.Run(r.ctx); close(r.done) }()
	go r.vision()
	return r
}

// vision is the rig's fake vision pipeline: at 10 fps it reports the face and decides
// presence as the real one does in the simple case (enter after 1 s of face, leave 3 s, or
// rig.grace, after the last).
func (r *rig) vision() {
	tk := time.NewTicker(100 * time.Millisecond)
	defer tk.Stop()
	var present bool
	var since, last time.Time
	for {
		select {
		case <-r.ctx.Done():
			return
		case now := <-tk.C:
			o := Observation{At: now}
			grace := time.Duration(r.grace.Load())
			if grace == 0 {
				grace = 3 * time.Second
			}
			if r.face.Load() {
				o.Faces = 1
				if since.IsZero() {
					since = now
				}
				last = now
				if !present && now.Sub(since) >= time.Second {
					present, o.Change = true, Entered
				}
			} else {
				since = time.Time{}
				if present && now.Sub(last) >= grace {
					present, o.Change = false, Left
				}
			}
			r.e.Observe(r.ctx, o)
		}
	}
}

func (r *rig) stop() {
	r.cancel()
	<-r.done
}

func (r *rig) eventTypes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.events {
		out = append(out, ev.Type)
	}
	return out
}

func (r *rig) count(typ string) int {
	n := 0
	for _, ty := range r.eventTypes() {
		if ty == typ {
			n++
		}
	}
	return n
}

func testConfig() Config {
	c := DefaultConfig
	c.QRTTL = time.Minute
	c.QRLinger = 0 // the tests of everything else see goodbye as soon as the shopper left
	return c
}

// TestEngineQRLingers: the shopper leaves with the code on screen. The session closes (as
// before, at once), but the code stays for QRLinger with the photo hidden (no session, no
// photo on the screen); a scan in that window binds and shows ✓ briefly; without a scan the
// mirror goes black when the linger ends; someone new ends the linger at once; and the photo
// is kept for the linger even when the grace is shorter.
func TestEngineQRLingers(t *testing.T) {
	run := func(t *testing.T, then func(t *testing.T, r *rig, photo string)) {
		synctest.Test(t, func(t *testing.T) {
			cfg := testConfig()
			cfg.QRLinger = 30 * time.Second
			cfg.UnboundGrace = 10 * time.Second
			r := newRig(t, cfg)
			defer r.stop()
			r.face.Store(true)
			time.Sleep(9 * time.Second)
			synctest.Wait()
			qr := r.scr.last()
			if qr.Scene != display.SceneQR {
				t.Fatalf("screen = %q, want qr", qr.Scene)
			}
			r.face.Store(false)
			time.Sleep(4 * time.Second) // the fake vision's grace is 3 s
			synctest.Wait()
			s := r.scr.last()
			if s.Scene != display.SceneQR || s.SessionID != "" || s.PhotoID != "" || s.QR == nil || s.QR.Content != qr.QR.Content {
				t.Fatalf("after leaving: %+v, want the same code with no session and no photo", s)
			}
			if snap, _ := r.e.Snapshot(r.ctx); snap.SessionID != "" || r.count(wire.EventSessionClosed) != 1 {
				t.Fatalf("after leaving: session %q open, %d closed; want it closed", snap.SessionID, r.count(wire.EventSessionClosed))
			}
			then(t, r, qr.PhotoID)
		})
	}
	t.Run("a scan in the linger binds and shows bound", func(t *testing.T) {
		run(t, func(t *testing.T, r *rig, photo string) {
			time.Sleep(15 * time.Second) // past the 10 s grace: the linger keeps the photo
			synctest.Wait()
			r.e.Bind(r.ctx, photo, "SCAN")
			synctest.Wait()
			if s := r.scr.last(); s.Scene != display.SceneBound {
				t.Fatalf("after the scan: %q, want bound", s.Scene)
			}
			time.Sleep(3 * time.Second)
			synctest.Wait()
			if s := r.scr.last(); s.Scene != display.SceneIdle {
				t.Errorf("after the goodbye time: %q, want idle", s.Scene)
			}
			if r.count(wire.EventPhotoBound) != 1 || r.count(wire.EventPhotoPurged) != 0 || len(r.store.ids()) != 1 {
				t.Errorf("bound %d, purged %d, stored %d; want the photo bound and kept", r.count(wire.EventPhotoBound),
					r.count(wire.EventPhotoPurged), len(r.store.ids()))
			}
		})
	})
	t.Run("no scan: black when the linger ends, then the photo goes", func(t *testing.T) {
		run(t, func(t *testing.T, r *rig, photo string) {
			time.Sleep(28 * time.Second) // the session closed 3 s after the face went (the grace)
			synctest.Wait()
			if s := r.scr.last(); s.Scene != display.SceneQR {
				t.Fatalf("29 s into the linger: %q, want the code still", s.Scene)
			}
			time.Sleep(2 * time.Second)
			synctest.Wait()
			if s := r.scr.last(); s.Scene != display.SceneIdle {
				t.Fatalf("31 s into the linger: %q, want idle", s.Scene)
			}
			if r.count(wire.EventPhotoPurged) != 1 || len(r.store.ids()) != 0 {
				t.Errorf("purged %d, stored %d after the linger; want the unbound photo purged", r.count(wire.EventPhotoPurged), len(r.store.ids()))
			}
		})
	})
	t.Run("someone new ends the linger", func(t *testing.T) {
		run(t, func(t *testing.T, r *rig, photo string) {
			r.face.Store(true)
			time.Sleep(2 * time.Second)
			synctest.Wait()
			if s := r.scr.last(); s.Scene != display.SceneWelcome || s.SessionID == "" {
				t.Fatalf("someone new: %+v, want a new session's welcome", s)
			}
		})
	})
	t.Run("purge-photos takes the code off", func(t *testing.T) {
		run(t, func(t *testing.T, r *rig, photo string) {
			if n, _ := r.e.PurgePhotos(r.ctx); n != 1 {
				t.Errorf("purged %d, want the lingering photo", n)
			}
			if s := r.scr.last(); s.Scene != display.SceneIdle {
				t.Errorf("after purge-photos: %q, want idle", s.Scene)
			}
		})
	})
}

func TestEngine(t *testing.T) {
	type step func(r *rig)
	wait := func(d time.Duration) step { return func(r *rig) { time.Sleep(d); synctest.Wait() } }
	arrive := func(r *rig) { r.face.Store(true) }
	leave := func(r *rig) { r.face.Store(false) }
	scan := func(r *rig) { r.e.Bind(r.ctx, r.scr.last().PhotoID, "SCAN"); synctest.Wait() }
	bindID := func(id string) step { return func(r *rig) { r.e.Bind(r.ctx, id, "SCAN"); synctest.Wait() } }
	tap := func(r *rig) { r.e.Trigger(r.ctx, "tap"); synctest.Wait() }
	providerDown := func(r *rig) { r.prov.down.Store(true) }
	providerUp := func(r *rig) { r.prov.down.Store(false) }

	tests := []struct {
		name       string
		cfg        func(*Config)
		steps      []step
		wantScenes []string
		wantEvents []string
		wantStored int
	}{
		{
			name:       "shopper takes a photo, scans, leaves",
			steps:      []step{arrive, wait(9 * time.Second), scan, wait(2 * time.Second), leave, wait(10 * time.Second)},
			wantScenes: []string{"idle", "welcome", "countdown 3", "countdown 2", "countdown 1", "review", "qr", "bound", "goodbye", "idle"},
			wantEvents: []string{"session.opened", "photo.captured", "qr.shown", "photo.bound", "session.closed"},
			wantStored: 1,
		},
		{
			name:       "passer-by under the dwell opens nothing",
			steps:      []step{arrive, wait(700 * time.Millisecond), leave, wait(10 * time.Second)},
			wantScenes: []string{"idle"},
		},
		{
			name:       "shopper leaves during the countdown: no photo",
			steps:      []step{func(r *rig) { r.grace.Store(int64(500 * time.Millisecond)) }, arrive, wait(3 * time.Second), leave, wait(10 * time.Second)},
			wantScenes: []string{"idle", "welcome", "countdown 3", "goodbye", "idle"},
			wantEvents: []string{"session.opened", "session.closed"},
		},
		{
			name:       "shopper leaves while the QR is shown: withdrawn, purged after the grace",
			steps:      []step{arrive, wait(9 * time.Second), leave, wait(4 * time.Second), wait(40 * time.Second)},
			wantScenes: []string{"idle", "welcome", "countdown 3", "countdown 2", "countdown 1", "review", "qr", "goodbye", "idle"},
			wantEvents: []string{"session.opened", "photo.captured", "qr.shown", "session.closed", "photo.purged"},
		},
		{
			name:       "a scan inside the grace after leaving still binds and keeps the photo",
			steps:      []step{arrive, wait(9 * time.Second), leave, wait(5 * time.Second), bindID("ID02"), wait(40 * time.Second)},
			wantScenes: []string{"idle", "welcome", "countdown 3", "countdown 2", "countdown 1", "review", "qr", "goodbye", "idle"},
			wantEvents: []string{"session.opened", "photo.captured", "qr.shown", "session.closed", "photo.bound"},
			wantStored: 1,
		},
		{
			name:       "binding twice is acted on once",
			steps:      []step{arrive, wait(9 * time.Second), scan, scan, wait(time.Second)},
			wantScenes: []string{"idle", "welcome", "countdown 3", "countdown 2", "countdown 1", "review", "qr", "bound"},
			wantEvents: []string{"session.opened", "photo.captured", "qr.shown", "photo.bound"},
			wantStored: 1,
		},
		{
			name:       "binding for a purged photo is ignored",
			steps:      []step{arrive, wait(9 * time.Second), leave, wait(45 * time.Second), bindID("ID02")},
			wantScenes: []string{"idle", "welcome", "countdown 3", "countdown 2", "countdown 1", "review", "qr", "goodbye", "idle"},
			wantEvents: []string{"session.opened", "photo.captured", "qr.shown", "session.closed", "photo.purged"},
		},
		{
			name:       "provider down: error screen, photo kept, retried until it works",
			steps:      []step{providerDown, arrive, wait(9 * time.Second), wait(6 * time.Second), providerUp, wait(6 * time.Second)},
			wantScenes: []string{"idle", "welcome", "countdown 3", "countdown 2", "countdown 1", "review", "error", "qr"},
			wantEvents: []string{"session.opened", "photo.captured", "qr.shown"},
			wantStored: 1,
		},
		{
			// What the error screen says is all that happens: it retries while the session is
			// open; a photo whose shopper leaves before the provider is back is purged.
			name:       "provider down and the shopper leaves: the photo is purged after the grace",
			steps:      []step{providerDown, arrive, wait(9 * time.Second), leave, wait(35 * time.Second)},
			wantScenes: []string{"idle", "welcome", "countdown 3", "countdown 2", "countdown 1", "review", "error", "goodbye", "idle"},
			wantEvents: []string{"session.opened", "photo.captured", "session.closed", "photo.purged"},
			wantStored: 0,
		},
		{
			name:       "a tap takes another photo with its own QR",
			steps:      []step{arrive, wait(9 * time.Second), tap, wait(6 * time.Second)},
			wantScenes: []string{"idle", "welcome", "countdown 3", "countdown 2", "countdown 1", "review", "qr", "countdown 3", "countdown 2", "countdown 1", "review", "qr"},
			wantEvents: []string{"session.opened", "photo.captured", "qr.shown", "photo.captured", "qr.shown"},
			wantStored: 2,
		},
		{
			name:       "auto capture off: welcome waits for a trigger",
			cfg:        func(c *Config) { c.AutoCapture = false },
			steps:      []step{arrive, wait(9 * time.Second), tap, wait(6 * time.Second)},
			wantScenes: []string{"idle", "welcome", "countdown 3", "countdown 2", "countdown 1", "review", "qr"},
			wantEvents: []string{"session.opened", "photo.captured", "qr.shown"},
			wantStored: 1,
		},
		{
			name:       "camera fails: plain error, back to welcome",
			steps:      []step{func(r *rig) { r.cam.err = errors.New("camera gone") }, arrive, wait(10 * time.Second)},
			wantScenes: []string{"idle", "welcome", "countdown 3", "countdown 2", "countdown 1", "error", "welcome"},
			wantEvents: []string{"session.opened"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := testConfig()
				if tt.cfg != nil {
					tt.cfg(&cfg)
				}
				r := newRig(t, cfg)
				for _, s := range tt.steps {
					s(r)
				}
				synctest.Wait()
				if diff := cmp.Diff(tt.wantScenes, r.scr.scenes()); diff != "" {
					t.Errorf("scenes (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tt.wantEvents, r.eventTypes()); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
				if got := len(r.store.ids()); got != tt.wantStored {
					t.Errorf("photos stored = %d, want %d", got, tt.wantStored)
				}
				r.stop()
			})
		})
	}
}

func TestEngineAutoCaptureWaitsForStillness(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, testConfig())
		r.face.Store(true)
		moving := atomic.Bool{}
		moving.Store(true)
		// A second feeder moves the face 40 px every 100 ms while moving is set.
		go func() {
			tk := time.NewTicker(100 * time.Millisecond)
			defer tk.Stop()
			x := 0
			for {
				select {
				case <-r.ctx.Done():
					return
				case now := <-tk.C:
					if moving.Load() {
						x = (x + 40) % 400
					}
					r.e.Observe(r.ctx, Observation{At: now, Faces: 1, Primary: image.Rect(100+x, 100, 200+x, 200)})
				}
			}
		}()
		time.Sleep(6 * time.Second)
		synctest.Wait()
		if got := r.scr.last().Scene; got != display.SceneWelcome {
			t.Fatalf("shopper moving for 6 s: screen %q, want welcome (no photo of a blur)", got)
		}
		moving.Store(false)
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		if got := r.scr.last().Scene; got != display.SceneCountdown {
			t.Errorf("still for 1.5 s: screen %q, want countdown", got)
		}
		r.stop()
	})
}

func TestEngineCompare(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, testConfig())
		r.face.Store(true)
		time.Sleep(9 * time.Second)
		r.e.Compare(r.ctx) // one photo: nothing to compare with
		synctest.Wait()
		if got := r.scr.last().Scene; got != display.SceneQR {
			t.Fatalf("Compare with one photo: screen %q, want qr unchanged", got)
		}
		for i := 0; i < 2; i++ {
			r.e.Trigger(r.ctx, "button")
			time.Sleep(6 * time.Second)
		}
		synctest.Wait()
		// Photos ID02, ID03, ID04; the current one is ID04.
		var got []string
		for i := 0; i < 3; i++ {
			r.e.Compare(r.ctx)
			synctest.Wait()
			s := r.scr.last()
			if s.Scene != display.SceneCompare || s.PhotoID != "ID04" {
				t.Fatalf("Compare: screen %+v, want compare of ID04", s)
			}
			got = append(got, s.CompareID)
		}
		if diff := cmp.Diff([]string{"ID03", "ID02", "ID03"}, got); diff != "" {
			t.Errorf("compared with (-want +got):\n%s", diff)
		}
		// A scan still binds the photo while comparing; a trigger takes another photo.
		r.e.Trigger(r.ctx, "tap")
		synctest.Wait()
		if got := r.scr.last(); got.Scene != display.SceneCountdown {
			t.Errorf("Trigger from compare: screen %q, want countdown", got.Scene)
		}
		r.stop()
	})
}

func TestEngineFleetCommands(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, testConfig())
		r.face.Store(true)
		time.Sleep(9 * time.Second)
		synctest.Wait()
		n, ok := r.e.PurgePhotos(r.ctx)
		if !ok || n != 1 {
			t.Fatalf("PurgePhotos = %d, %v; want 1", n, ok)
		}
		synctest.Wait()
		if got := r.scr.last().Scene; got != display.SceneWelcome {
			t.Errorf("after purge the screen shows %q, want welcome (the QR withdrawn)", got)
		}
		if ids := r.store.ids(); len(ids) != 0 {
			t.Errorf("photos after purge: %v", ids)
		}
		r.e.EndSession(r.ctx, "command")
		synctest.Wait()
		r.mu.Lock()
		last := r.events[len(r.events)-1]
		r.mu.Unlock()
		if last.Type != wire.EventSessionClosed || last.Data.(wire.SessionClosed).Reason != "command" {
			t.Errorf("after EndSession last event = %+v, want session.closed (command)", last)
		}
		if snap, _ := r.e.Snapshot(r.ctx); snap.State != "goodbye" {
			t.Errorf("state after EndSession = %q, want goodbye", snap.State)
		}
		r.stop()
	})
}

func TestEngineRenewsQRBeforeItExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.QRTTL = 60 * time.Second
		r := newRig(t, cfg)
		r.face.Store(true)
		time.Sleep(9 * time.Second)
		synctest.Wait()
		first := r.scr.last()
		if first.Scene != display.SceneQR {
			t.Fatalf("screen = %q, want qr", first.Scene)
		}
		// Renewal is due a fifth of the life before expiry: after 48 s on screen.
		time.Sleep(50 * time.Second)
		synctest.Wait()
		second := r.scr.last()
		if second.Scene != display.SceneQR || second.QR.Content == first.QR.Content {
			t.Fatalf("after 50 s screen = %+v, want a renewed qr (first %q)", second, first.QR.Content)
		}
		if !second.QR.ExpiresAt.After(first.QR.ExpiresAt) {
			t.Errorf("renewed QR expires %v, not after %v", second.QR.ExpiresAt, first.QR.ExpiresAt)
		}
		if n := r.count(wire.EventQRExpired); n != 0 {
			t.Errorf("qr.expired events = %d, want 0 (renewed in time)", n)
		}
		r.stop()
	})
}

// A changed session.qr_ttl (SetConfig, as SIGHUP and the fleet apply it) takes effect on the
// next code: the renewal asks the provider for the new TTL and the screen shows its expiry.
func TestEngineQRTTLChangeTakesEffectOnTheNextCode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.QRTTL = 60 * time.Second
		r := newRig(t, cfg)
		r.face.Store(true)
		time.Sleep(9 * time.Second)
		synctest.Wait()
		if s := r.scr.last(); s.Scene != display.SceneQR {
			t.Fatalf("screen = %q, want qr", s.Scene)
		}
		cfg.QRTTL = 10 * time.Minute
		r.e.SetConfig(r.ctx, cfg)
		time.Sleep(50 * time.Second) // the 60 s code is renewed after 48 s on screen
		synctest.Wait()
		second := r.scr.last()
		r.prov.mu.Lock()
		ttls := append([]time.Duration(nil), r.prov.ttls...)
		r.prov.mu.Unlock()
		if len(ttls) < 2 || ttls[0] != 60*time.Second || ttls[len(ttls)-1] != 10*time.Minute {
			t.Fatalf("provider asked for TTLs %v, want 1m0s first and 10m0s for the renewed code", ttls)
		}
		if left := time.Until(second.QR.ExpiresAt); second.Scene != display.SceneQR || left < 9*time.Minute {
			t.Errorf("renewed code expires in %v, want about 10 min", left)
		}
		r.stop()
	})
}

func TestEngineShutdownClosesSessionAndPurges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, testConfig())
		r.face.Store(true)
		time.Sleep(9 * time.Second)
		synctest.Wait()
		r.stop()
		if got := r.scr.last().Scene; got != display.SceneIdle {
			t.Errorf("screen after shutdown = %q, want idle (black)", got)
		}
		want := []string{"session.opened", "photo.captured", "qr.shown", "session.closed", "photo.purged"}
		if diff := cmp.Diff(want, r.eventTypes()); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		if ids := r.store.ids(); len(ids) != 0 {
			t.Errorf("photos left after shutdown = %v, want none (unbound)", ids)
		}
		r.mu.Lock()
		reason := r.events[3].Data.(wire.SessionClosed).Reason
		r.mu.Unlock()
		if reason != "shutdown" {
			t.Errorf("session.closed reason = %v, want shutdown", reason)
		}
	})
}

func TestEngineStatsAndLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, testConfig())
		r.face.Store(true)
		time.Sleep(9 * time.Second)
		synctest.Wait()
		time.Sleep(1500 * time.Millisecond)
		r.e.Bind(r.ctx, r.scr.last().PhotoID, "subscribe")
		synctest.Wait()
		got := r.e.Stats()
		want := Stats{Sessions: 1, Photos: 1, QRShown: 1, Bound: 1}
		if got != want {
			t.Errorf("Stats = %+v, want %+v", got, want)
		}
		r.mu.Lock()
		var bound Event
		for _, ev := range r.events {
			if ev.Type == wire.EventPhotoBound {
				bound = ev
			}
		}
		r.mu.Unlock()
		if d := bound.Data.(wire.PhotoBound); d.Event != "subscribe" || d.LatencyMS < 1500 {
			t.Errorf("photo.bound data = %v, want event subscribe, latency ≥ 1500 ms", bound.Data)
		}
		r.stop()
	})
}
