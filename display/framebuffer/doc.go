// Package framebuffer is the renderer for mirrors without a browser: it draws display.Screens
// with Go's image packages and a system CJK font and writes them to a Linux framebuffer device
// (/dev/fb0) or, for tests and previews, to a plain file.
//
// The scenes follow the kiosk page: a pure black background (black is mirror), zh-CN text first
// with a smaller English line, content at the top and bottom edges inside a safe margin, the QR
// code drawn module by module at a whole number of pixels per module with its quiet zone and an
// expiry ring, photo thumbnails at an edge.
//
// Pixel formats: 16-bit (RGB565) and 32-bit (XRGB8888 and any other layout the driver reports
// through its colour bitfields). The panel may be mounted turned by 0, 90, 180 or 270 degrees:
// scenes are laid out for the turned (logical) size and rotated into the panel's memory.
//
// The geometry of a device is read with the FBIOGET_VSCREENINFO ioctl and, where that fails, from
// /sys/class/graphics/fbN; a file needs it in Options. Wiring, in main:
//
//	fb, err := framebuffer.Open(framebuffer.Options{Device: "/dev/fb0", Rotation: 90, Photos: photos})
//	if err != nil { return fmt.Errorf("display.fb_device: %w", err) }
//	defer fb.Close()
//	g.Go(func() error { return fb.Run(ctx) }) // redraws on Show, and every second for the QR ring
package framebuffer
