package framebuffer

import (
	"image"
	"image/color"
	"testing"
)

// TestFormats: every layout writes the colours where its bitfields say, and reads back the same.
func TestFormats(t *testing.T) {
	tests := []struct {
		f    Format
		want []byte // the bytes of one pixel of colour (0xff, 0x80, 0x00)
	}{
		{RGB565, []byte{0x00, 0xfc}},               // r=31<<11 | g=32<<5
		{XRGB8888, []byte{0x00, 0x80, 0xff, 0x00}}, // B G R X
		{Format{BitsPerPixel: 16, R: Bitfield{0, 5}, G: Bitfield{5, 6}, B: Bitfield{11, 5}}, []byte{0x1f, 0x04}},       // BGR565
		{Format{BitsPerPixel: 16, R: Bitfield{10, 5}, G: Bitfield{5, 5}, B: Bitfield{0, 5}}, []byte{0x00, 0x7e}},       // RGB555
		{Format{BitsPerPixel: 32, R: Bitfield{0, 8}, G: Bitfield{8, 8}, B: Bitfield{16, 8}}, []byte{0xff, 0x80, 0, 0}}, // XBGR8888
	}
	for _, tt := range tests {
		src := image.NewRGBA(image.Rect(0, 0, 2, 1))
		src.SetRGBA(0, 0, color.RGBA{0xff, 0x80, 0x00, 0xff})
		src.SetRGBA(1, 0, color.RGBA{0, 0, 0, 0xff})
		bpp := tt.f.BitsPerPixel / 8
		frame := make([]byte, 2*bpp)
		encode(frame, src, 2, 1, 2*bpp, tt.f, 0)
		if got := frame[:bpp]; string(got) != string(tt.want) {
			t.Errorf("%v: pixel bytes %x, want %x", tt.f, got, tt.want)
		}
		if got := frame[bpp:]; string(got) != string(make([]byte, bpp)) {
			t.Errorf("%v: black is %x, want zeros", tt.f, got)
		}
		back := decode(frame, 2, 1, 2*bpp, tt.f).RGBAAt(0, 0)
		if back.R != 0xff || back.G < 0x7b || back.G > 0x84 || back.B != 0 {
			t.Errorf("%v: decode(encode(ff8000)) = %v", tt.f, back)
		}
	}
}
