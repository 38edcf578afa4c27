package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/fitmirror/fitmirror/device/camera"
	"github.com/fitmirror/fitmirror/device/camera/democlip"
)

// ensureDemoClip makes the demo clip on first need: camera.source is auto, the machine has no
// camera, and camera.demo_clip is left at its default in the state directory. The clip is made
// from the photo embedded in the program, so an installed agent demos the whole loop on any
// machine. A demo_clip the operator named is theirs: a missing one stays an error.
func ensureDemoClip(cfg *Config, log *slog.Logger) error {
	if cfg.Camera.Source != "auto" || cfg.Camera.DemoClip != "" || hasCamera() {
		return nil
	}
	clip := cfg.demoClip()
	made, err := democlip.Ensure(clip)
	if err != nil {
		return fmt.Errorf("camera: no camera found (no /dev/video*), and the demo clip %s could not be made: %w", clip, err)
	}
	if made {
		log.Info("no camera found: made the demo clip from the embedded photo", "clip", clip)
	}
	return nil
}

// hasCamera says whether camera.source auto finds a camera (a /dev/video* device); tests
// replace it to stand for a machine with or without one.
var hasCamera = camera.HasDevice

// demoClipPlays says whether run plays the demo clip for lack of a camera, and which: source
// auto on a machine without a camera, with the default clip (made on first need) or a named
// clip that exists.
func demoClipPlays(cfg *Config) (string, bool) {
	if cfg.Camera.Source != "auto" || hasCamera() {
		return "", false
	}
	clip := cfg.demoClip()
	if cfg.Camera.DemoClip == "" {
		return clip, true
	}
	_, err := os.Stat(clip)
	return clip, err == nil
}
