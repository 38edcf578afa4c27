package vision

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestReplayNamesDetector: the summary names the detector used, and a BlazeFace model that
// cannot be loaded is said on Warn with the file tried (the replay runs on the cascade).
func TestReplayNamesDetector(t *testing.T) {
	clip := evalSet(t)[0]
	sum, err := Replay(ReplayOptions{Source: clip.Path, Warn: new(bytes.Buffer)}, func(ReplayEvent) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if sum.Detector != KindBlazeFace {
		t.Errorf("default replay: detector %q, want %q (the repository's models/)", sum.Detector, KindBlazeFace)
	}
	missing := filepath.Join(t.TempDir(), "no-model.onnx")
	var warn bytes.Buffer
	sum, err = Replay(ReplayOptions{Source: clip.Path, Detector: DetectorOptions{Model: missing}, Warn: &warn}, func(ReplayEvent) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if sum.Detector != KindHaar {
		t.Errorf("replay with a missing model: detector %q, want %q", sum.Detector, KindHaar)
	}
	if !strings.Contains(warn.String(), missing) || !strings.Contains(warn.String(), "BlazeFace") {
		t.Errorf("warning %q does not name BlazeFace and the file tried %s", warn.String(), missing)
	}
}
