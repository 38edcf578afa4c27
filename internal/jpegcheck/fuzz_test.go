package jpegcheck_test

import (
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"testing"

	"github.com/fitmirror/fitmirror/internal/jpegcheck"
	"github.com/fitmirror/fitmirror/internal/jpegcheck/jpegtest"
)

// FuzzCheck runs the photo check on any bytes, as the hub does on an upload. It never panics;
// it refuses with a *Refusal or accepts; what it accepts is within the limits, decodes, and
// has the size its header says. The limits are small so that each input decodes quickly.
// Seeds: testdata/fuzz/FuzzCheck.
func FuzzCheck(f *testing.F) {
	f.Add(jpegtest.Progressive())
	f.Add(jpegtest.Bomb(65535, 65535))
	f.Add(jpegtest.WithSize(jpegtest.Progressive(), 640, 480))
	lim := jpegcheck.Limits{MaxSide: 256, MaxPixels: 256 * 192, Budget: 8 << 20, Workers: 1}
	d := jpegcheck.New(lim)
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := d.Check(context.Background(), data)
		if err != nil {
			var r *jpegcheck.Refusal
			if !errors.As(err, &r) || r.Reason == "" {
				t.Fatalf("Check = %v, want a *Refusal with a reason", err)
			}
			return
		}
		if info.Width < 1 || info.Height < 1 || info.Width > lim.MaxSide || info.Height > lim.MaxSide ||
			int64(info.Width)*int64(info.Height) > lim.MaxPixels || info.Cost > lim.Budget {
			t.Fatalf("accepted %+v outside %+v", info, lim)
		}
		img, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("accepted bytes that do not decode: %v", err)
		}
		if b := img.Bounds(); b.Dx() != info.Width || b.Dy() != info.Height {
			t.Fatalf("accepted as %dx%d, decodes to %v", info.Width, info.Height, b)
		}
	})
}
