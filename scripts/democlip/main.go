// Command democlip writes the demo clip the agent plays on a machine without a camera:
// a person walks into a fitting room, stays about ten seconds, and leaves.
//
//	go run ./scripts/democlip [-photo testdata/face.jpg] [-out state/demo/walk-in.avi]
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/fitmirror/fitmirror/device/camera/democlip"
)

func main() {
	photo := flag.String("photo", "testdata/face.jpg", "640×480 photo of a person")
	out := flag.String("out", "state/demo/walk-in.avi", "clip to write (MJPG .avi); ground truth goes to OUT.json")
	flag.Parse()
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		log.Fatal(err)
	}
	t, err := democlip.Generate(*photo, *out, democlip.Default)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("democlip: wrote %s: %d frames at %g fps, face in view %v–%v\n", *out, t.Frames, t.FPS, t.Arrival, t.Departure)
}
