package display_test

import (
	"fmt"

	"github.com/fitmirror/fitmirror/display"
)

// Size a WeChat QR code for a 43" 1080×1920 portrait panel: 70 mm wide, whole pixels per module.
func ExampleQRScale() {
	modules, err := display.QRModules("http://weixin.qq.com/q/02Vw2GRH0zd3h1Mx5n1xxx", display.DefaultQRLevel)
	if err != nil {
		panic(err)
	}
	ppmm := display.Panel{DiagonalIn: 43}.PixelsPerMM(1080, 1920)
	scale := display.QRScale(len(modules), ppmm, display.DefaultQRSizeMM, 1080/3)
	fmt.Printf("%d modules × %d px = %d px\n", len(modules), scale, len(modules)*scale)
	// Output: 41 modules × 3 px = 123 px
}
