package framebuffer_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/fitmirror/fitmirror/display"
	"github.com/fitmirror/fitmirror/display/framebuffer"
)

// Draw a scene into a file shaped like a 1024×600 RGB565 panel mounted as a portrait mirror.
func Example() {
	dir, _ := os.MkdirTemp("", "fb")
	defer os.RemoveAll(dir)
	fb, err := framebuffer.Open(framebuffer.Options{
		Device:   filepath.Join(dir, "fb0"),
		Geometry: framebuffer.Geometry{Width: 1024, Height: 600, Format: framebuffer.RGB565},
		Rotation: 90,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer fb.Close()
	if err := fb.Render(display.Screen{Scene: display.SceneWelcome}); err != nil {
		fmt.Println(err)
		return
	}
	st, _ := os.Stat(filepath.Join(dir, "fb0"))
	fmt.Println("scenes laid out at", fb.Size(), "; frame of", st.Size(), "bytes")
	// Output: scenes laid out at (600,1024) ; frame of 1228800 bytes
}
