package vision

import (
	"fmt"
	"image"
	"image/color"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"gocv.io/x/gocv"
)

var (
	colFace    = color.RGBA{0, 220, 0, 0}
	colPrimary = color.RGBA{0, 255, 255, 0}
	colMotion  = color.RGBA{255, 140, 0, 0}
	colZone    = color.RGBA{80, 160, 255, 0}
	colButton  = color.RGBA{255, 0, 255, 0}
	colPresent = color.RGBA{0, 255, 0, 0}
	colAbsent  = color.RGBA{160, 160, 160, 0}
	colBody    = color.RGBA{255, 255, 0, 0}
	colStatic  = color.RGBA{255, 60, 60, 0}
	colFired   = color.RGBA{0, 200, 255, 0}
)

// annotator draws what the analyser decided onto a frame, for installers tuning a store
// (replay --debug-video) and the live debug view.
type annotator struct{}

func newAnnotator() *annotator { return &annotator{} }

// Draw draws r onto frame in place: motion blobs, faces (the primary thicker), the body box
// with the share of it that is not the room (the evidence that holds a session while the face
// is hidden), static faces (scenery: posters, photos) crossed out, the zone, the air buttons,
// and a status line.
func (a *annotator) Draw(frame *gocv.Mat, r Result, o Options, t time.Duration) {
	for _, b := range r.Motion.Boxes {
		gocv.Rectangle(frame, b, colMotion, 1)
	}
	if z := o.Detector.Zone; z != (image.Rectangle{}) {
		gocv.Rectangle(frame, z, colZone, 2)
	}
	a.drawButtons(frame, r, o)
	if !r.BodyBox.Empty() {
		th := 1
		if r.Observation.Body {
			th = 3
		}
		gocv.Rectangle(frame, r.BodyBox, colBody, th)
		gocv.PutText(frame, fmt.Sprintf("body %.0f%%", 100*r.BodyCover), r.BodyBox.Min.Add(image.Pt(4, r.BodyBox.Dy()-8)),
			gocv.FontHersheySimplex, 0.5, colBody, 1)
	}
	for _, f := range r.Static {
		gocv.Rectangle(frame, f, colStatic, 1)
		gocv.Line(frame, f.Min, f.Max, colStatic, 1)
		gocv.Line(frame, image.Pt(f.Min.X, f.Max.Y), image.Pt(f.Max.X, f.Min.Y), colStatic, 1)
		gocv.PutText(frame, "static", f.Min.Add(image.Pt(2, -4)), gocv.FontHersheySimplex, 0.45, colStatic, 1)
	}
	for _, f := range r.Faces {
		th := 1
		c := colFace
		if f == r.Observation.Primary {
			th, c = 3, colPrimary
		}
		gocv.Rectangle(frame, f, c, th)
	}
	state, c := "idle", colAbsent
	switch {
	case r.Present:
		state, c = "PRESENT", colPresent
	case r.Arriving:
		state, c = "arriving", colPrimary
	}
	mode := "gate"
	switch {
	case r.Reused:
		mode = "still"
	case r.Tracked:
		mode = "track"
	case r.Detected:
		mode = "detect"
	}
	line := fmt.Sprintf("%s  %s  t=%.2fs  motion=%.3f  body=%v  faces=%d  %.1fms", state, mode, t.Seconds(),
		r.Motion.Fraction, r.Observation.Body, len(r.Faces), float64(r.Elapsed.Microseconds())/1000)
	gocv.Rectangle(frame, image.Rect(0, 0, frame.Cols(), 24), color.RGBA{}, -1)
	gocv.PutText(frame, line, image.Pt(6, 17), gocv.FontHersheySimplex, 0.5, c, 1)
	if len(r.Actions) > 0 {
		// On a line of its own under the status line, inside even a 320-wide frame.
		fired := "FIRED " + strings.Join(r.Actions, " ")
		gocv.Rectangle(frame, image.Rect(0, 24, min(frame.Cols(), 200), 52), colFired, -1)
		gocv.PutText(frame, fired, image.Pt(6, 45), gocv.FontHersheySimplex, 0.7, color.RGBA{}, 2)
	}
}

// drawButtons draws the air buttons where they were on this frame (anchored ones follow the
// face), the share of each that differs from its empty look, the hand blob taken for a hand
// and how long it has been held; a fired button is filled.
func (a *annotator) drawButtons(frame *gocv.Mat, r Result, o Options) {
	if len(r.Buttons) == 0 {
		for _, b := range o.Buttons {
			gocv.Rectangle(frame, b.Region, colButton, 2)
			gocv.PutText(frame, b.Action, b.Region.Min.Add(image.Pt(4, 18)), gocv.FontHersheySimplex, 0.5, colButton, 1)
		}
		return
	}
	for _, b := range r.Buttons {
		if b.Region.Empty() {
			continue
		}
		th := 2
		if b.Fired {
			th = -1
		}
		gocv.Rectangle(frame, b.Region, colButton, th)
		if !b.Hand.Empty() {
			gocv.Rectangle(frame, b.Hand, colFired, 2)
		}
		label := fmt.Sprintf("%s %.0f%% skin %.0f%%", b.Action, 100*b.Occupied, 100*b.Skin)
		if b.Holding > 0 {
			label += fmt.Sprintf(" %.1fs", b.Holding.Seconds())
		}
		gocv.PutText(frame, label, b.Region.Min.Add(image.Pt(4, 18)), gocv.FontHersheySimplex, 0.5, colButton, 1)
	}
}

func (a *annotator) Close() error { return nil }

// DebugView is a live MJPEG stream of annotated camera frames for bench testing with a USB
// webcam: mount it on the loopback kiosk listener when debugging is switched on (it is off
// unless the agent mounts it). It refuses clients that are not on this machine — the frames
// show shoppers — and costs nothing while nobody watches: the pipeline only annotates and
// encodes frames while a viewer is connected.
type DebugView struct {
	mu      sync.Mutex
	viewers map[chan []byte]struct{}
	// MaxFPS limits the frames sent to viewers; 0 = 5.
	MaxFPS float64
}

// NewDebugView returns a view with no viewers.
func NewDebugView() *DebugView { return &DebugView{viewers: map[chan []byte]struct{}{}} }

// Watching reports whether anyone is watching.
func (v *DebugView) Watching() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.viewers) > 0
}

// Publish sends a JPEG to every viewer; a viewer still busy with the previous frame skips
// this one.
func (v *DebugView) Publish(jpeg []byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for ch := range v.viewers {
		select {
		case ch <- jpeg:
		default:
		}
	}
}

func (v *DebugView) interval() time.Duration {
	fps := v.MaxFPS
	if fps <= 0 {
		fps = 5
	}
	return time.Duration(float64(time.Second) / fps)
}

const mjpegBoundary = "fitmirrorframe"

// ServeHTTP streams multipart/x-mixed-replace JPEG frames until the client goes away.
func (v *DebugView) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		http.Error(w, "the debug view is only served to this machine", http.StatusForbidden)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ch := make(chan []byte, 1)
	v.mu.Lock()
	v.viewers[ch] = struct{}{}
	v.mu.Unlock()
	defer func() {
		v.mu.Lock()
		delete(v.viewers, ch)
		v.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary="+mjpegBoundary)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	// Each frame is followed at once by the next boundary, so a viewer shows it without
	// waiting for the frame after.
	if _, err := io.WriteString(w, "--"+mjpegBoundary+"\r\n"); err != nil {
		return
	}
	flusher.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case jpeg := <-ch:
			if _, err := fmt.Fprintf(w, "Content-Type: image/jpeg\r\nContent-Length: %s\r\n\r\n", strconv.Itoa(len(jpeg))); err != nil {
				return
			}
			if _, err := w.Write(jpeg); err != nil {
				return
			}
			if _, err := io.WriteString(w, "\r\n--"+mjpegBoundary+"\r\n"); err != nil {
				return
			}
			flusher.Flush()
		}
	}
}
