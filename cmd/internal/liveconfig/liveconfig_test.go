package liveconfig

import (
	"strings"
	"testing"
)

// A desired configuration is checked as the agent checks it: only live keys, no file paths,
// values in range, the zone's form; the error names the key.
func TestCheckDesired(t *testing.T) {
	for _, tt := range []struct{ config, err string }{
		{`{"presence":{"enter_dwell":"2s","zone":"0,0,320,240"},"session":{"countdown":5},"photos":{"unbound_grace":"5m"}}`, ""},
		{`{}`, ""},
		{`{"presence":{"enter_dwell":"45s"}}`, "presence.enter_dwell: must be between 0s and 30s"},
		{`{"presence":{"enter_dwel":"1s"}}`, `did you mean "presence.enter_dwell"`},
		{`{"session":{"countdown":"three"}}`, "session.countdown"},
		{`{"presence":{"zone":"1,2,3"}}`, "presence.zone"},
		{`{"presence":{"detector":"yolo"}}`, "presence.detector"},
		{`{"presence":{"cascade":"/etc/shadow"}}`, "presence.cascade: a file path"},
		{`{"photos":{"jpeg_quality":80}}`, "photos.jpeg_quality: takes effect only at start"},
		{`{"camera":{"fps":10}}`, "camera.fps: takes effect only at start"},
		{`{"presence":{"enter_dwell":null}}`, "presence.enter_dwell: null is not a value"},
		{`[1]`, "config must be a JSON object"},
	} {
		err := CheckDesired([]byte(tt.config))
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s: %v, want it accepted", tt.config, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s: %v, want an error with %q", tt.config, err, tt.err)
		}
	}
}
