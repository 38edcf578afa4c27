package vision

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/device/camera"
	"github.com/fitmirror/fitmirror/device/vision/evalset"
	"github.com/fitmirror/fitmirror/internal/testexec"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
)

// walkInClip writes the evaluation set's walk-in-stay-leave clip into the test's folder.
func walkInClip(t *testing.T) evalset.Clip {
	t.Helper()
	var spec evalset.Spec
	for _, s := range evalset.Specs() {
		if s.Name == "walk-in-stay-leave" {
			spec = s
		}
	}
	clip, err := evalset.GenerateClip(facePhoto, filepath.Join(t.TempDir(), "walk-in.avi"), spec)
	if err != nil {
		t.Fatal(err)
	}
	return clip
}

// TestReplayMatchesLive runs one clip twice: live, as `mirror-agent run` does (Pipeline on the
// file paced at its frame rate, feeding session.Engine on the wall clock), and through Replay
// (media time, as fast as it goes). The sessions must open and close on the same frames within
// one frame interval, and Replay's printed sessions must be the session engine's own: the same
// events on the engine's media-time clock, with the automatic photo the live run took too.
//
// A live event is placed on the frame whose observation the engine was handling when it
// emitted it (the last observation read before it; on a paced file, frame n is read n frame
// intervals after the first). Placing it by its wall time alone would add the frame's read
// jitter and its analysis time (a few ms) to a difference of one frame that is inherent: the
// dwell and the grace are whole numbers of frames, so on the live clock the decision falls on
// either frame of the boundary. The wall-time difference is logged.
func TestReplayMatchesLive(t *testing.T) {
	if testexec.Emulated() {
		t.Skip("real-time live run: under emulation frames are analysed about 40× slower than natively, so the live path cannot follow the clip's clock (make test runs it natively)")
	}
	clip := walkInClip(t)
	frame := time.Duration(float64(time.Second) / clip.Truth.FPS)
	vo := Options{Presence: DefaultPresence}

	var printed []ReplayEvent
	var engine []session.Event
	_, err := Replay(ReplayOptions{Source: clip.Path, Presence: vo.Presence, Vision: vo,
		Events: func(ev session.Event) { engine = append(engine, ev) }},
		func(e ReplayEvent) error { printed = append(printed, e); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(printed) == 0 {
		t.Fatal("replay opened no session: the comparison would compare nothing")
	}

	live, reads := runLive(t, clip, vo, len(printed))
	liveSessions := sessionEvents(live)
	if len(liveSessions) != len(printed) {
		t.Fatalf("live run: %d session events %v; replay printed %d %v", len(liveSessions), liveSessions, len(printed), printed)
	}
	origin := reads[0]
	worstWall := time.Duration(0)
	for i, lv := range liveSessions {
		p := printed[i]
		replayAt := time.Duration(p.TMs) * time.Millisecond
		read := reads[0]
		for _, r := range reads {
			if !r.After(lv.At) {
				read = r
			}
		}
		n := (read.Sub(origin) + frame/2) / frame // the frame the engine was handling
		onFrame := time.Duration(float64(n) / clip.Truth.FPS * float64(time.Second))
		worstWall = max(worstWall, absDur(lv.At.Sub(origin)-replayAt))
		if lv.Type != p.Type || absDur(onFrame-replayAt) > frame+time.Millisecond {
			t.Errorf("event %d: live %s on frame %d (%v; %v after the first frame), replay %s at %d ms: want the same event within one frame (%v)",
				i, lv.Type, n, onFrame, lv.At.Sub(origin), p.Type, p.TMs, frame)
		}
	}
	t.Logf("live (by wall time) and replay sessions agree within %v (one frame: %v)", worstWall, frame)

	// What replay printed is what its session engine emitted, on media time.
	replaySessions := sessionEvents(engine)
	if len(replaySessions) != len(printed) {
		t.Fatalf("replay's session engine emitted %v; replay printed %v: want the same sessions", replaySessions, printed)
	}
	for i, ev := range replaySessions {
		if ms := ev.At.Sub(replayEpoch).Milliseconds(); ev.Type != printed[i].Type || ms != printed[i].TMs {
			t.Errorf("replay printed %+v; its engine emitted %s at %d ms", printed[i], ev.Type, ms)
		}
	}
	if l, r := count(live, wire.EventPhotoCaptured), count(engine, wire.EventPhotoCaptured); l == 0 || l != r {
		t.Errorf("automatic photos: live %d, replay %d; want the same, at least one", l, r)
	}
}

// runLive plays clip through Pipeline and session.Engine on the wall clock until want session
// events came (or the clip and a margin are over). reads are the wall times of the frames
// analysed, in order; the first is the clip's first frame.
func runLive(t *testing.T, clip evalset.Clip, vo Options, want int) (events []session.Event, reads []time.Time) {
	t.Helper()
	var mu sync.Mutex
	enough := make(chan struct{})
	in := session.NewInputs() // the agent's wiring: the pipeline feeds the engine's inputs
	p := NewPipeline(PipelineOptions{
		Camera: camera.Options{Source: clip.Path, Paced: true},
		Vision: vo,
		Observe: func(ctx context.Context, o session.Observation) {
			mu.Lock()
			reads = append(reads, o.At)
			mu.Unlock()
			in.Observe(ctx, o)
		},
		OnGesture: GesturesTo(in),
		Logger:    slog.New(slog.DiscardHandler),
	})
	eng, err := session.New(session.Options{Config: session.DefaultConfig, Inputs: in, Camera: p,
		Store: &memPhotos{m: map[string][]byte{}}, Provider: replayQR{}, Screen: noScreen{},
		Logger: slog.New(slog.DiscardHandler),
		Events: func(ev session.Event) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, ev)
			if ev.Type == wire.EventSessionClosed && len(sessionEvents(events)) == want {
				close(enough)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); eng.Run(ctx) }()
	go func() {
		defer wg.Done()
		if err := p.Run(ctx); err != nil {
			t.Error(err)
		}
	}()
	d := time.Duration(float64(clip.Truth.Frames) / clip.Truth.FPS * float64(time.Second))
	select {
	case <-enough:
	case <-time.After(d + 10*time.Second):
		t.Errorf("live run: fewer than %d session events by the end of the clip", want)
	}
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(reads) == 0 {
		t.Fatal("live run: no frame analysed")
	}
	return events, reads
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func sessionEvents(evs []session.Event) []session.Event {
	var out []session.Event
	for _, ev := range evs {
		if ev.Type == wire.EventSessionOpened || ev.Type == wire.EventSessionClosed {
			out = append(out, ev)
		}
	}
	return out
}

func count(evs []session.Event, typ string) int {
	n := 0
	for _, ev := range evs {
		if ev.Type == typ {
			n++
		}
	}
	return n
}
