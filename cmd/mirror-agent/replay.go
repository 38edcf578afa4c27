package main

import (
	"encoding/json"
	"io"

	"github.com/fitmirror/fitmirror/device/vision"
)

// replay runs the camera → vision → session pipeline over a file on media time and prints
// one JSON line per session event, then a summary (docs/contracts.md §4). The session engine is
// the one `run` uses, with the configured session timings, on a clock that follows the media;
// its photos stay in memory and nothing is written to state_dir or sent anywhere. With
// debugVideo it also writes the annotated frames there, for installers tuning a store. When
// BlazeFace cannot be loaded it says so on stderr, with the file it tried; the summary names
// the detector used.
func replay(cfg *Config, video, debugVideo string, stdout, stderr io.Writer) error {
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	sum, err := vision.Replay(vision.ReplayOptions{
		Source:      video,
		FPS:         cfg.Camera.FPS,
		Rotation:    cfg.Camera.Rotation,
		Detector:    cfg.detector(),
		Presence:    cfg.presence(),
		Vision:      cfg.visionOptions(),
		Session:     cfg.sessionConfig(),
		JPEGQuality: cfg.Photos.JPEGQuality,
		DebugVideo:  debugVideo,
		Warn:        stderr,
	}, func(e vision.ReplayEvent) error { return enc.Encode(e) })
	if err != nil {
		return err
	}
	return enc.Encode(sum)
}
