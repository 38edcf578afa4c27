package framebuffer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Geometry is a panel's size and pixel layout.
type Geometry struct {
	Width, Height int // visible pixels
	Stride        int // bytes per line
	Format        Format
}

func (g Geometry) check() error {
	if g.Width <= 0 || g.Height <= 0 {
		return fmt.Errorf("size %dx%d: must be positive", g.Width, g.Height)
	}
	if err := g.Format.check(); err != nil {
		return err
	}
	if g.Stride < g.Width*g.Format.BitsPerPixel/8 {
		return fmt.Errorf("stride %d: shorter than a line of %d pixels at %d bpp", g.Stride, g.Width, g.Format.BitsPerPixel)
	}
	return nil
}

// ErrNoGeometry is returned, wrapped, when a device's geometry can be read neither with the
// ioctl nor from sysfs (not a framebuffer, no fbdev driver, a container without /sys).
var ErrNoGeometry = errors.New("no framebuffer geometry")

// readGeometry asks the device with FBIOGET_VSCREENINFO and falls back to sysfs.
func readGeometry(f *os.File, sysfs string) (Geometry, error) {
	g, ioErr := ioctlGeometry(f)
	if ioErr == nil {
		if s, err := readInt(filepath.Join(sysfs, filepath.Base(f.Name()), "stride")); err == nil && s > 0 {
			g.Stride = s
		}
		return g, nil
	}
	g, sysErr := sysfsGeometry(sysfs, filepath.Base(f.Name()))
	if sysErr != nil {
		return Geometry{}, fmt.Errorf("%w (ioctl: %v; sysfs: %v)", ErrNoGeometry, ioErr, sysErr)
	}
	return g, nil
}

// sysfsGeometry reads /sys/class/graphics/fbN/{virtual_size,bits_per_pixel,stride}. sysfs does
// not say where the colours sit: 16 bpp is taken as RGB565 and 32 as XRGB8888, which is what
// fbdev drivers (vc4, simpledrm, efifb) use.
func sysfsGeometry(sysfs, name string) (Geometry, error) {
	dir := filepath.Join(sysfs, name)
	b, err := os.ReadFile(filepath.Join(dir, "virtual_size"))
	if err != nil {
		return Geometry{}, err
	}
	ws, hs, ok := strings.Cut(strings.TrimSpace(string(b)), ",")
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	if !ok || err1 != nil || err2 != nil {
		return Geometry{}, fmt.Errorf("%s/virtual_size: %q is not W,H", dir, b)
	}
	bpp, err := readInt(filepath.Join(dir, "bits_per_pixel"))
	if err != nil {
		return Geometry{}, err
	}
	g := Geometry{Width: w, Height: h, Format: RGB565}
	if bpp == 32 {
		g.Format = XRGB8888
	} else if bpp != 16 {
		g.Format = Format{BitsPerPixel: bpp}
	}
	g.Stride = w * bpp / 8
	if s, err := readInt(filepath.Join(dir, "stride")); err == nil && s > 0 {
		g.Stride = s
	}
	return g, nil
}

func readInt(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a number", path, strings.TrimSpace(string(b)))
	}
	return n, nil
}
