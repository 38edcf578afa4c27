package vision

import (
	"reflect"
	"testing"

	"github.com/fitmirror/fitmirror/device/camera"
	"github.com/fitmirror/fitmirror/internal/health"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
)

// The pipeline records its camera's changes and keeps the camera's health part: ok → lost is
// one camera.lost, lost → frozen no new event (the part says frozen), frozen → ok is
// camera.restored; the part is starting until the first frame.
func TestCameraEventsAndHealth(t *testing.T) {
	tr := health.New(nil)
	var got []string
	p := NewPipeline(PipelineOptions{Health: tr, Events: func(ev session.Event) {
		status := ""
		if d, ok := ev.Data.(wire.CameraLost); ok {
			status = d.Status
		}
		got = append(got, ev.Type+":"+status)
	}})
	state := func() string { s, _ := tr.State(wire.PartCamera); return s }
	if state() != wire.HealthStarting {
		t.Fatalf("camera part before the first frame = %q, want starting", state())
	}
	p.frameSeen()
	if state() != wire.HealthOK {
		t.Fatalf("camera part after the first frame = %q, want ok", state())
	}
	steps := []struct {
		st   camera.Status
		part string
	}{{camera.StatusLost, "lost"}, {camera.StatusFrozen, "frozen"}, {camera.StatusOK, "ok"}}
	for _, s := range steps {
		p.cameraChanged(s.st, "why")
		if state() != s.part {
			t.Errorf("after %s the camera part is %q, want %q", s.st, state(), s.part)
		}
	}
	want := []string{"camera.lost:lost", "camera.restored:"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events = %q, want %q", got, want)
	}
	if r := tr.Report(); !r.OK() {
		t.Errorf("report after the camera came back = %+v, want ok", r)
	}
}
