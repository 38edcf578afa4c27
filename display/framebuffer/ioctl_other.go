//go:build !linux

package framebuffer

import (
	"errors"
	"os"
)

func ioctlGeometry(*os.File) (Geometry, error) {
	return Geometry{}, errors.New("framebuffer devices are Linux only")
}
