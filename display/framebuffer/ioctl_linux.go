package framebuffer

import (
	"errors"
	"os"
	"syscall"
	"unsafe"
)

// fbioGetVScreenInfo is FBIOGET_VSCREENINFO from <linux/fb.h>.
const fbioGetVScreenInfo = 0x4600

// ioctlGeometry reads struct fb_var_screeninfo: 40 __u32s whose layout is the same on every
// architecture (xres, yres, xres_virtual, yres_virtual, xoffset, yoffset, bits_per_pixel,
// grayscale, then the red, green, blue and transp bitfields of {offset, length, msb_right}).
func ioctlGeometry(f *os.File) (Geometry, error) {
	var v [40]uint32
	sc, err := f.SyscallConn()
	if err != nil {
		return Geometry{}, err
	}
	var errno syscall.Errno
	err = sc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, fbioGetVScreenInfo, uintptr(unsafe.Pointer(&v[0])))
	})
	if err != nil {
		return Geometry{}, err
	}
	if errno != 0 {
		return Geometry{}, errors.New("FBIOGET_VSCREENINFO: " + errno.Error())
	}
	g := Geometry{Width: int(v[0]), Height: int(v[1]), Format: Format{
		BitsPerPixel: int(v[6]),
		R:            Bitfield{v[8], v[9]},
		G:            Bitfield{v[11], v[12]},
		B:            Bitfield{v[14], v[15]},
	}}
	g.Stride = int(v[2]) * g.Format.BitsPerPixel / 8
	return g, nil
}
