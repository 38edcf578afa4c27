package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fitmirror/fitmirror/cmd/internal/config"
	"github.com/fitmirror/fitmirror/internal/testexec"
)

// replayFrom runs the built mirror-agent's replay with dir as its working directory and
// returns the summary's detector and stderr.
func replayFrom(t *testing.T, dir, clip string, sets ...string) (detector, stderr string) {
	t.Helper()
	bin, _, _ := setup(t)
	args := []string{"replay", "--video", clip}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	cmd := testexec.Command(bin, args...)
	cmd.Dir = dir
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("mirror-agent %v from %s: %v\n%s", args, dir, err, e.String())
	}
	var last struct {
		Type     string
		Detector *string
	}
	sc := bufio.NewScanner(&o)
	for sc.Scan() {
		last.Detector = nil
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			t.Fatalf("stdout line %q: %v", sc.Text(), err)
		}
	}
	if last.Type != "summary" || last.Detector == nil {
		t.Fatalf("last line is not a summary naming the detector:\n%s", o.String())
	}
	return *last.Detector, e.String()
}

// TestReplayFromAnotherFolder: the model lookup does not depend on the working directory. The
// agent built outside the repository and started from an unrelated folder finds the
// repository's models/ through its module root and replays with BlazeFace, silently; a model it
// cannot load is said on stderr with the file tried, and the summary names the cascade.
func TestReplayFromAnotherFolder(t *testing.T) {
	_, clip, _ := setup(t)
	elsewhere := t.TempDir()
	det, stderr := replayFrom(t, elsewhere, clip)
	if det != "blazeface" || strings.Contains(stderr, "BlazeFace") {
		t.Errorf("replay from %s: detector %q, stderr %q; want blazeface and no warning", elsewhere, det, stderr)
	}
	missing := filepath.Join(t.TempDir(), "gone.onnx")
	det, stderr = replayFrom(t, elsewhere, clip, "presence.model="+missing)
	if det != "haar" || !strings.Contains(stderr, "BlazeFace") || !strings.Contains(stderr, missing) {
		t.Errorf("replay with presence.model=%s: detector %q, stderr %q; want haar and a warning naming the file", missing, det, stderr)
	}
}

// TestCheckWarnsOnMissingModel: check run from an unrelated folder with a model that is not
// there warns on stderr with the file tried, and its report says the cascade stands in.
func TestCheckWarnsOnMissingModel(t *testing.T) {
	t.Chdir(t.TempDir())
	missing := filepath.Join(t.TempDir(), "gone.onnx")
	c := defaultConfig()
	sets := []string{"state_dir=" + t.TempDir(), "display.listen=127.0.0.1:0", "cloud.local.listen=127.0.0.1:0", "presence.model=" + missing}
	if err := config.Load(&c, "", sets); err != nil {
		t.Fatal(err)
	}
	var out, warn bytes.Buffer
	check(t.Context(), &c, &out, &warn)
	if !strings.Contains(warn.String(), "BlazeFace") || !strings.Contains(warn.String(), missing) {
		t.Errorf("check stderr %q; want a BlazeFace warning naming %s", warn.String(), missing)
	}
	if !strings.Contains(out.String(), "warn  detector") || !strings.Contains(out.String(), "ok    detector       haar") {
		t.Errorf("check printed %q; want a warn line and ok … haar for the detector", out.String())
	}
	// And with the default lookup, from this folder, the repository's model is found.
	c = defaultConfig()
	if err := config.Load(&c, "", sets[:3]); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	warn.Reset()
	check(t.Context(), &c, &out, io.Discard)
	if l := checkLine(out.String(), "detector"); !strings.Contains(l, "blazeface") {
		wd, _ := os.Getwd()
		t.Errorf("detector line from %s: %q; want blazeface", wd, l)
	}
}
