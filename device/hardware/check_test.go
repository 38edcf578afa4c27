package hardware_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spitest"

	"github.com/fitmirror/fitmirror/device/hardware"
	"github.com/fitmirror/fitmirror/device/hardware/hardwaretest"
)

func lines(rs []hardware.Result) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.String())
	}
	return out
}

// shorted is a pin held low by its wiring.
type shorted struct{ *gpiotest.Pin }

func (shorted) Read() gpio.Level { return gpio.Low }

func TestCheckLines(t *testing.T) {
	// gpiotest.Pin.In applies the pull to its level; a button shorted to GND beats the pull-up.
	stuck := shorted{&gpiotest.Pin{N: "GPIO23"}}
	tests := []struct {
		name string
		host *hardwaretest.Host
		set  func(*hardware.Config)
		want []string
	}{
		{
			name: "all fitted and working",
			host: &hardwaretest.Host{
				Pins: map[string]gpio.PinIO{"GPIO17": &gpiotest.Pin{N: "GPIO17"}, "GPIO27": &gpiotest.Pin{N: "GPIO27"}, "GPIO22": &gpiotest.Pin{N: "GPIO22"}},
				I2C:  map[string]i2c.BusCloser{"1": &hardwaretest.PCA9685{Addr: 0x40}},
			},
			set: func(c *hardware.Config) {
				c.PIR, c.Buttons.Capture, c.CameraLED = "GPIO17", "GPIO27", "GPIO22"
				c.Light.Driver, c.Light.I2CBus, c.Light.Channels = "pca9685", "1", []string{"0", "1"}
			},
			want: []string{
				"ok    pir        GPIO17 input, nobody",
				"ok    button.capture GPIO27 input, released",
				"ok    camera-led GPIO22 output, off",
				"ok    light      PCA9685 at 0x40 on I2C 1, channels 0,1",
			},
		},
		{
			name: "missing pin, stuck button, nothing at the I2C address",
			host: &hardwaretest.Host{
				Pins: map[string]gpio.PinIO{"GPIO23": stuck},
				I2C:  map[string]i2c.BusCloser{"": &hardwaretest.PCA9685{Addr: 0x40}},
			},
			set: func(c *hardware.Config) {
				c.Buttons.Staff, c.Buttons.Compare = "GPIO24", "GPIO23"
				c.Light.Driver, c.Light.I2CAddr = "pca9685", 0x41
			},
			want: []string{
				"FAIL  button.compare io.buttons.compare: GPIO23 reads pressed — release it; if it stays pressed, wire the button between the pin and GND (io.buttons.active: low)",
				"FAIL  button.staff io.buttons.staff: pin GPIO24 not found — is this a Raspberry Pi? name pins by BCM number like GPIO17 (see docs/hardware.md) and fix io.buttons.staff",
				"FAIL  light      io.light.i2c_addr: no PCA9685 answers at 0x41: hardwaretest: PCA9685: no device at 0x41 (NACK) — check SDA/SCL/VCC/GND and the address jumpers; i2cdetect -y 1 lists what answers",
			},
		},
		{
			name: "APA102 port opens; a missing SPI port says how to enable SPI",
			host: &hardwaretest.Host{SPI: map[string]spi.PortCloser{"SPI0.0": &spitest.Record{}}},
			set: func(c *hardware.Config) {
				c.Light.Driver, c.Light.SPIPort = "apa102", "SPI0.0"
			},
			want: []string{"ok    light      SPI SPI0.0 opens for 60 APA102 LEDs (the strip cannot answer back: watch it light up)"},
		},
		{
			name: "no SPI",
			host: &hardwaretest.Host{},
			set:  func(c *hardware.Config) { c.Light.Driver = "apa102" },
			want: []string{`FAIL  light      io.light.spi_port: open SPI port (first): hardwaretest: no SPI port "" — enable SPI: raspi-config → Interface Options → SPI, or dtparam=spi=on in /boot/firmware/config.txt, then reboot`},
		},
		{
			name: "bad config",
			host: &hardwaretest.Host{},
			set:  func(c *hardware.Config) { c.Light.Driver = "pca9685"; c.Light.Channels = []string{"x"} },
			want: []string{`FAIL  io         io.light.channels: "x" is not a PCA9685 output (0..15) — fix the io: section of the config`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := hardware.DefaultConfig
			tt.set(&cfg)
			got := lines(tt.host.Registry().Check(cfg))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Check lines (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCheckThisHost runs the real periph host drivers: no machine has GPIO999 or I2C bus 99.
func TestCheckThisHost(t *testing.T) {
	cfg := hardware.DefaultConfig
	cfg.PIR = "GPIO999"
	cfg.Light.Driver, cfg.Light.I2CBus = "pca9685", "99"
	got := hardware.Check(cfg)
	if len(got) != 2 {
		t.Fatalf("Check = %q, want 2 lines (pir, light)", lines(got))
	}
	if got[0].Part != "pir" || got[0].Err == nil || got[0].Err.Error() != "io.pir: pin GPIO999 not found" {
		t.Errorf("pir line = %q, want a FAIL naming GPIO999", got[0])
	}
	if got[1].Part != "light" || got[1].Err == nil || !strings.HasPrefix(got[1].Err.Error(), "io.light.i2c_bus: open I2C bus 99: ") ||
		!strings.Contains(got[1].Hint, "dtparam=i2c_arm=on") {
		t.Errorf("light line = %q, want a FAIL for bus 99 with the dtparam hint", got[1])
	}
	for _, r := range got {
		if s := r.String(); strings.Contains(s, "\n") {
			t.Errorf("line %q spans several lines", s)
		}
	}
	// Open fails the same way, naming the pin.
	if _, err := hardware.Open(cfg, hardware.Options{}); err == nil || err.Error() != "io.pir: pin GPIO999 not found" {
		t.Errorf("Open = %v, want io.pir: pin GPIO999 not found", err)
	}
}
