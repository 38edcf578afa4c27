package status_test

import (
	"errors"
	"fmt"
	"image"

	"github.com/fitmirror/fitmirror/display"
	"github.com/fitmirror/fitmirror/display/status"
)

// screen stands in for an ssd1306.Dev.
type screen struct{ last image.Image }

func (s *screen) Bounds() image.Rectangle { return image.Rect(0, 0, 128, 64) }
func (s *screen) Draw(r image.Rectangle, src image.Image, sp image.Point) error {
	s.last = src
	return nil
}

func Example() {
	st := status.New(&screen{}, status.Options{DeviceID: "mirror-07", IP: func() string { return "192.168.1.20" }})
	st.Show(display.Screen{Scene: display.SceneQR})
	st.SetError(errors.New("mqtt: connection refused"))
	if err := st.Render(); err != nil {
		fmt.Println(err)
	}
	fmt.Printf("%+v\n", st.Info())
	// Output: {DeviceID:mirror-07 IP:192.168.1.20 State:qr LastError:mqtt: connection refused}
}
