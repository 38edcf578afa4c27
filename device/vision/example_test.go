package vision_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"gocv.io/x/gocv"

	"github.com/fitmirror/fitmirror/device/vision"
)

// An Analyzer decides frame by frame; here a still, empty room and then the shopper. The
// detector looks at the first frame (someone may be in view at start), then only behind the
// motion gate.
func ExampleAnalyzer() {
	a, err := vision.NewAnalyzer(vision.Options{Presence: vision.PresenceConfig{EnterDwell: 0, ExitGrace: 3 * time.Second}})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	room := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(128, 128, 128, 0), 480, 640, gocv.MatTypeCV8UC3)
	defer room.Close()
	shopper := gocv.IMRead("../../testdata/face.jpg", gocv.IMReadColor)
	defer shopper.Close()
	t0 := time.Unix(0, 0)
	for i, frame := range []gocv.Mat{room, room, shopper} {
		r, err := a.Analyze(frame, t0.Add(time.Duration(i)*time.Second/15))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("frame %d: detector ran %v, faces %d, %v\n", i, r.Detected, len(r.Faces), r.Transition)
	}
	// Output:
	// frame 0: detector ran true, faces 0, none
	// frame 1: detector ran false, faces 0, none
	// frame 2: detector ran true, faces 1, entered
}

// Replay runs presence over a clip on media time, as `mirror-agent replay` does.
func ExampleReplay() {
	_, err := vision.Replay(vision.ReplayOptions{Source: "/nonexistent/clip.avi", Presence: vision.DefaultPresence},
		func(e vision.ReplayEvent) error { fmt.Println(e.Type, e.TMs); return nil })
	fmt.Println(err)
	// Output:
	// camera: open /nonexistent/clip.avi: no such file or directory
}

// The debug view is an http.Handler for the loopback kiosk listener; the pipeline feeds it
// annotated frames only while someone watches.
func ExampleDebugView() {
	view := vision.NewDebugView()
	p := vision.NewPipeline(vision.PipelineOptions{
		Debug:  view,
		Vision: vision.Options{Gestures: true}, // "photo" and "next" beside the shopper's head
		OnGesture: func(ctx context.Context, action string) {
			fmt.Println("air button:", action) // the agent calls engine.Trigger or engine.Compare
		},
	})
	mux := http.NewServeMux()
	mux.Handle("/debug/vision", view)
	_ = p
}
