package framebuffer

import (
	"encoding/binary"
	"fmt"
	"image"
)

// Bitfield is where one colour channel sits in a pixel, as the kernel's fb_bitfield says.
type Bitfield struct {
	Offset, Length uint32
}

// Format is a panel's pixel layout: 16 or 32 bits per pixel, little-endian words.
type Format struct {
	BitsPerPixel int
	R, G, B      Bitfield
}

// The common layouts.
var (
	RGB565   = Format{BitsPerPixel: 16, R: Bitfield{11, 5}, G: Bitfield{5, 6}, B: Bitfield{0, 5}}
	XRGB8888 = Format{BitsPerPixel: 32, R: Bitfield{16, 8}, G: Bitfield{8, 8}, B: Bitfield{0, 8}}
)

func (f Format) String() string {
	switch f {
	case RGB565:
		return "RGB565"
	case XRGB8888:
		return "XRGB8888"
	}
	return fmt.Sprintf("%d bpp R%d/%d G%d/%d B%d/%d", f.BitsPerPixel, f.R.Offset, f.R.Length,
		f.G.Offset, f.G.Length, f.B.Offset, f.B.Length)
}

func (f Format) check() error {
	if f.BitsPerPixel != 16 && f.BitsPerPixel != 32 {
		return fmt.Errorf("%d bits per pixel: only 16 and 32 are supported", f.BitsPerPixel)
	}
	for _, b := range []Bitfield{f.R, f.G, f.B} {
		if b.Length == 0 || b.Length > 8 || b.Offset+b.Length > uint32(f.BitsPerPixel) {
			return fmt.Errorf("pixel format %v: bad colour bitfield %+v", f, b)
		}
	}
	return nil
}

// pixel packs an 8-bit colour into the format's word.
func (f Format) pixel(r, g, b uint8) uint32 {
	ch := func(v uint8, bf Bitfield) uint32 { return uint32(v>>(8-bf.Length)) << bf.Offset }
	return ch(r, f.R) | ch(g, f.G) | ch(b, f.B)
}

// Rotations, clockwise, that a panel may be mounted at.
var rotations = map[int]bool{0: true, 90: true, 180: true, 270: true}

// encode writes the logical image src into frame, a panel of pw×ph pixels with stride bytes per
// line, turned clockwise by rot degrees. src is pw×ph for 0 and 180, ph×pw for 90 and 270.
func encode(frame []byte, src *image.RGBA, pw, ph, stride int, f Format, rot int) {
	bpp := f.BitsPerPixel / 8
	sb := src.Bounds()
	lw := sb.Dx()
	// For each panel pixel, the logical pixel it shows: walk the panel in memory order and step
	// through src with per-pixel and per-line deltas.
	var start, dx, dy int // src pixel index of panel (0,0); steps per panel x and panel y
	switch rot {
	case 0:
		start, dx, dy = 0, 1, lw
	case 90: // logical (x,y) shows at panel (pw-1-y, x)
		start, dx, dy = (lw)*(pw-1), -lw, 1
	case 180:
		start, dx, dy = lw*(ph-1)+pw-1, -1, -lw
	case 270: // logical (x,y) shows at panel (y, ph-1-x)
		start, dx, dy = ph-1, lw, -1
	}
	pix := src.Pix
	fast32 := f == XRGB8888
	fast16 := f == RGB565
	for py := 0; py < ph; py++ {
		line := frame[py*stride : py*stride+pw*bpp]
		i := start + py*dy
		for px := 0; px < pw; px++ {
			o := i * 4
			r, g, b := pix[o], pix[o+1], pix[o+2]
			switch {
			case fast32:
				line[px*4], line[px*4+1], line[px*4+2], line[px*4+3] = b, g, r, 0
			case fast16:
				v := uint16(r>>3)<<11 | uint16(g>>2)<<5 | uint16(b>>3)
				line[px*2], line[px*2+1] = byte(v), byte(v>>8)
			case bpp == 2:
				binary.LittleEndian.PutUint16(line[px*2:], uint16(f.pixel(r, g, b)))
			default:
				binary.LittleEndian.PutUint32(line[px*4:], f.pixel(r, g, b))
			}
			i += dx
		}
	}
}

// decode reads a panel frame back into an image of the panel as it looks (not turned): what a
// camera pointed at the panel would see. Tests and screenshots use it.
func decode(frame []byte, pw, ph, stride int, f Format) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, pw, ph))
	bpp := f.BitsPerPixel / 8
	ch := func(v uint32, bf Bitfield) uint8 {
		x := (v >> bf.Offset) & (1<<bf.Length - 1)
		// Spread the bits over 8 (5 bits 0x1f → 0xff), as displays do.
		return uint8(x * 255 / (1<<bf.Length - 1))
	}
	for y := 0; y < ph; y++ {
		for x := 0; x < pw; x++ {
			var v uint32
			if bpp == 2 {
				v = uint32(binary.LittleEndian.Uint16(frame[y*stride+x*2:]))
			} else {
				v = binary.LittleEndian.Uint32(frame[y*stride+x*4:])
			}
			o := img.PixOffset(x, y)
			img.Pix[o], img.Pix[o+1], img.Pix[o+2], img.Pix[o+3] = ch(v, f.R), ch(v, f.G), ch(v, f.B), 0xff
		}
	}
	return img
}
