package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"

	"github.com/fitmirror/fitmirror/device/camera"
	"github.com/fitmirror/fitmirror/device/vision/evalset"
)

// TestReplayDebugVideo: --debug-video writes every input frame, annotated (a status bar is
// drawn across the top), next to the usual event and summary lines, and replay writes nothing
// to state_dir.
func TestReplayDebugVideo(t *testing.T) {
	dir := t.TempDir()
	var spec evalset.Spec
	for _, s := range evalset.Specs() {
		if s.Name == "passer-by" {
			spec = s
		}
	}
	clip, err := evalset.GenerateClip("../../testdata/face.jpg", filepath.Join(dir, "in.avi"), spec)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "debug.avi")
	var stdout, stderr bytes.Buffer
	state := filepath.Join(dir, "state")
	err = run(context.Background(), []string{"replay", "--video", clip.Path, "--debug-video", out,
		"--set", "state_dir=" + state}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, stderr.String())
	}
	// Replay's session engine keeps its photos in memory: nothing reaches the state directory.
	if _, err := os.Stat(state); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("replay made %s (stat: %v); want no state written", state, err)
	}
	var last struct {
		Type   string
		Frames int
	}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			t.Fatalf("stdout line %q: %v", sc.Text(), err)
		}
	}
	if last.Type != "summary" || last.Frames != clip.Truth.Frames {
		t.Errorf("last line %+v, want the summary of %d frames", last, clip.Truth.Frames)
	}

	in, err := camera.Open(camera.Options{Source: clip.Path})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	dbg, err := camera.Open(camera.Options{Source: out})
	if err != nil {
		t.Fatalf("the debug video does not open: %v", err)
	}
	defer dbg.Close()
	a, b := gocv.NewMat(), gocv.NewMat()
	defer a.Close()
	defer b.Close()
	n := 0
	bar := image.Rect(0, 0, 640, 24)
	for {
		_, errA := in.Read(&a)
		_, errB := dbg.Read(&b)
		if errA == io.EOF || errB == io.EOF {
			if errA != errB {
				t.Errorf("after %d frames: input %v, debug video %v; want the same length", n, errA, errB)
			}
			break
		}
		if errA != nil || errB != nil {
			t.Fatal(errA, errB)
		}
		ra, rb := a.Region(bar), b.Region(bar)
		ma, mb := ra.Mean(), rb.Mean()
		ra.Close()
		rb.Close()
		if mb.Val1 > ma.Val1/2 {
			t.Fatalf("frame %d: the top bar is not drawn (mean %.0f, input %.0f)", n, mb.Val1, ma.Val1)
		}
		n++
	}
	if n != clip.Truth.Frames {
		t.Errorf("debug video has %d frames, want %d", n, clip.Truth.Frames)
	}
}

// TestReplayPrintsGestures: replay prints one line per air button that fired, with its media
// time, the action and the session open then — here on a real clip (testdata/NOTICE) of a fist
// held beside the head 0.6–1.7 s, where presence opens a session at 1.0 s — and none with
// presence.gestures off.
func TestReplayPrintsGestures(t *testing.T) {
	clip := filepath.Join("..", "..", "testdata", "real-footage", "gestures", "g1_yes_photo.avi")
	for _, on := range []bool{true, false} {
		var stdout, stderr bytes.Buffer
		args := []string{"replay", "--video", clip, "--set", "state_dir=" + t.TempDir(), "--set", "presence.gestures=" + map[bool]string{true: "true", false: "false"}[on]}
		if err := run(context.Background(), args, &stdout, &stderr); err != nil {
			t.Fatalf("replay: %v\n%s", err, stderr.String())
		}
		var gestures []map[string]any
		sc := bufio.NewScanner(&stdout)
		for sc.Scan() {
			var line map[string]any
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Fatalf("stdout line %q: %v", sc.Text(), err)
			}
			if line["type"] == "gesture" {
				gestures = append(gestures, line)
			}
		}
		switch {
		case !on && len(gestures) != 0:
			t.Errorf("presence.gestures=false: gesture lines %v, want none", gestures)
		case on && len(gestures) != 1:
			t.Errorf("presence.gestures=true: gesture lines %v, want one photo", gestures)
		case on:
			g := gestures[0]
			tms, _ := g["t_ms"].(float64)
			if g["action"] != "photo" || tms < 400 || tms > 2700 || g["session_id"] == nil {
				t.Errorf("gesture line %v, want action photo within 0.4–2.7 s and the session's ID", g)
			}
		}
	}
}
