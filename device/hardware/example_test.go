package hardware_test

import (
	"errors"
	"fmt"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spitest"

	"github.com/fitmirror/fitmirror/device/hardware"
	"github.com/fitmirror/fitmirror/device/hardware/hardwaretest"
	"github.com/fitmirror/fitmirror/display"
)

func Example() {
	// A camera LED on GPIO22 and an APA102 strip of 30 LEDs; the fake host stands in for a Pi.
	led := &gpiotest.Pin{N: "GPIO22"}
	strip := &spitest.Record{}
	host := &hardwaretest.Host{Pins: map[string]gpio.PinIO{"GPIO22": led}, SPI: map[string]spi.PortCloser{"SPI0.0": strip}}
	firstLED := func() string { // brightness, blue, green, red of the first LED in the last frame
		strip.Lock()
		defer strip.Unlock()
		return fmt.Sprintf("% x", strip.Ops[len(strip.Ops)-1].W[4:8])
	}

	cfg := hardware.DefaultConfig
	cfg.CameraLED = "GPIO22"
	cfg.Light.Driver, cfg.Light.SPIPort, cfg.Light.LEDs = "apa102", "SPI0.0", 30
	cfg.Light.Scenes = []string{"welcome=100/0/0"} // red, to see the colour order
	cfg.Light.Screens = []string{"idle=off", "welcome=welcome"}
	cfg.Light.Fade = 0 // switch at once; with a fade, Run drives it

	d, err := hardware.Open(cfg, hardware.Options{Registry: host.Registry()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	fmt.Println("scenes:", d.Scenes(), "now:", d.Scene(), firstLED())

	d.Show(display.Screen{Scene: display.SceneWelcome}) // a session opens
	d.SetCameraActive(true)
	fmt.Println("welcome:", d.Scene(), firstLED(), "LED", led.Read())

	err = d.SetScene("disco") // the set-light command with a bad name
	fmt.Println(err, errors.Is(err, hardware.ErrUnknownScene))

	d.Show(display.Idle)
	fmt.Println("idle:", d.Scene(), firstLED())

	d.Halt() // safe state: LED off, lights at the default (daylight)
	fmt.Println("halt:", d.Scene(), firstLED(), "LED", led.Read())
	// Output:
	// scenes: [daylight evening off welcome] now: daylight ff ff ff ff
	// welcome: welcome ff 00 00 ff LED High
	// io: set scene "disco": unknown scene (have daylight, evening, off, welcome) true
	// idle: off e1 00 00 00
	// halt: daylight ff ff ff ff LED Low
}

func ExampleRegistry_Check() {
	host := &hardwaretest.Host{Pins: map[string]gpio.PinIO{"GPIO17": &gpiotest.Pin{N: "GPIO17"}}}
	cfg := hardware.DefaultConfig
	cfg.PIR, cfg.Buttons.Capture = "GPIO17", "GPIO27"
	for _, r := range host.Registry().Check(cfg) {
		fmt.Println(r)
	}
	// Output:
	// ok    pir        GPIO17 input, nobody
	// FAIL  button.capture io.buttons.capture: pin GPIO27 not found — is this a Raspberry Pi? name pins by BCM number like GPIO17 (see docs/hardware.md) and fix io.buttons.capture
}
