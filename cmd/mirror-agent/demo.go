package main

import (
	"fmt"
	"log/slog"

	"github.com/fitmirror/fitmirror/device/camera"
	"github.com/fitmirror/fitmirror/device/camera/democlip"
)

// ensureDemoClip makes the demo clip on first need: camera.source is auto, the machine has no
// camera, and camera.demo_clip is left at its default in the state directory. The clip is made
// from the photo embedded in the program, so an installed agent demos the whole loop on any
// machine. A demo_clip the operator named is theirs: a missing one stays an error.
func ensureDemoClip(cfg *Config, log *slog.Logger) error {
	if cfg.Camera.Source != "auto" || cfg.Camera.DemoClip != "" || camera.HasDevice() {
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
