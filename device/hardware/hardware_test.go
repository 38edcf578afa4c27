package hardware_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spitest"

	"github.com/fitmirror/fitmirror/device/hardware"
	"github.com/fitmirror/fitmirror/device/hardware/hardwaretest"
)

const ms = time.Millisecond

// newPin is a fake GPIO that accepts edges; create it inside the synctest bubble.
func newPin(name string) *gpiotest.Pin {
	return &gpiotest.Pin{N: name, EdgesChan: make(chan gpio.Level)}
}

func level(p *gpiotest.Pin) gpio.Level {
	p.Lock()
	defer p.Unlock()
	return p.L
}

// running starts d.Run and returns a function that stops it and returns its error.
func running(t *testing.T, d *hardware.IO) (stop func() error) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	return func() error {
		cancel()
		return <-done
	}
}

type seen struct {
	Button  string
	Gesture string
	At      time.Duration
}

func TestButtonsThroughPins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		capture, compare, staff := newPin("GPIO27"), newPin("GPIO23"), newPin("GPIO24")
		host := &hardwaretest.Host{Pins: map[string]gpio.PinIO{"GPIO27": capture, "GPIO23": compare, "GPIO24": staff}}
		cfg := hardware.DefaultConfig
		cfg.Buttons.Capture, cfg.Buttons.Compare, cfg.Buttons.Staff = "GPIO27", "GPIO23", "GPIO24"

		t0 := time.Now()
		var mu sync.Mutex
		var got []seen
		var actions []hardware.Action
		d, err := hardware.Open(cfg, hardware.Options{Registry: host.Registry(), OnButton: func(e hardware.ButtonEvent) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, seen{e.Button, e.Gesture.String(), e.At.Sub(t0)})
			actions = append(actions, e.Action())
		}})
		if err != nil {
			t.Fatal(err)
		}
		if p := capture.Pull(); p != gpio.PullUp {
			t.Errorf("capture pull = %s, want %s (buttons switch to GND)", p, gpio.PullUp)
		}
		stop := running(t, d)

		// press holds p down for hold, with contact bounce on both edges; it returns when
		// the level settled down and when it settled up, since t0.
		press := func(p *gpiotest.Pin, hold time.Duration) (down, up time.Duration) {
			for _, l := range []gpio.Level{gpio.Low, gpio.High, gpio.Low} {
				down = time.Since(t0)
				p.EdgesChan <- l
				time.Sleep(ms)
			}
			time.Sleep(hold)
			for _, l := range []gpio.Level{gpio.High, gpio.Low, gpio.High} {
				up = time.Since(t0)
				p.EdgesChan <- l
				time.Sleep(ms)
			}
			return down, up
		}
		const debounce = 30 * ms
		time.Sleep(100 * ms)
		_, staffUp := press(staff, 80*ms)
		time.Sleep(500 * ms)
		press(capture, 60*ms)
		time.Sleep(150 * ms)
		_, capUp := press(capture, 60*ms) // inside the 400 ms window: a double press
		time.Sleep(time.Second)
		longDown, _ := press(compare, 1500*ms)
		time.Sleep(time.Second)
		_, cmpUp := press(compare, 50*ms)
		time.Sleep(time.Second)
		synctest.Wait()
		if err := stop(); err != nil {
			t.Errorf("Run = %v", err)
		}
		if err := d.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}

		want := []seen{
			{"staff", "press", staffUp + debounce}, // no double press on staff: at once
			{"capture", "double-press", capUp + debounce},
			{"compare", "long-press", longDown + time.Second}, // while still held
			{"compare", "press", cmpUp + debounce},
		}
		mu.Lock()
		defer mu.Unlock()
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("button events (-want +got):\n%s", diff)
		}
		wantActions := []hardware.Action{hardware.ActionStaff, hardware.ActionCompare, hardware.ActionNone, hardware.ActionCompare}
		if diff := cmp.Diff(wantActions, actions); diff != "" {
			t.Errorf("actions (-want +got):\n%s", diff)
		}
	})
}

func TestPIRWakes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pir := newPin("GPIO17")
		host := &hardwaretest.Host{Pins: map[string]gpio.PinIO{"GPIO17": pir}}
		cfg := hardware.DefaultConfig
		cfg.PIR = "GPIO17"
		t0 := time.Now()
		var mu sync.Mutex
		var wakes []time.Duration
		d, err := hardware.Open(cfg, hardware.Options{Registry: host.Registry(), OnWake: func(at time.Time) {
			mu.Lock()
			defer mu.Unlock()
			wakes = append(wakes, at.Sub(t0))
		}})
		if err != nil {
			t.Fatal(err)
		}
		if p := pir.Pull(); p != gpio.PullDown {
			t.Errorf("pir pull = %s, want %s", p, gpio.PullDown)
		}
		stop := running(t, d)
		time.Sleep(time.Second)
		pir.EdgesChan <- gpio.High // someone walks up
		synctest.Wait()
		if !d.Motion() {
			t.Errorf("Motion() = false after the sensor went high")
		}
		time.Sleep(3 * time.Second) // sensor stays high: no more wakes
		pir.EdgesChan <- gpio.Low
		synctest.Wait()
		if d.Motion() {
			t.Errorf("Motion() = true after the sensor went low")
		}
		time.Sleep(2 * time.Second)
		pir.EdgesChan <- gpio.High
		time.Sleep(time.Second)
		if err := stop(); err != nil {
			t.Errorf("Run = %v", err)
		}
		if err := d.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if diff := cmp.Diff([]time.Duration{time.Second, 6 * time.Second}, wakes); diff != "" {
			t.Errorf("wakes (-want +got):\n%s", diff)
		}
	})
}

func TestBadPinsAndBuses(t *testing.T) {
	have := func() *hardwaretest.Host {
		return &hardwaretest.Host{Pins: map[string]gpio.PinIO{"GPIO5": newPin("GPIO5")}}
	}
	tests := []struct {
		name    string
		set     func(*hardware.Config)
		want    string
		wantPin *hardware.PinError
		wantBus string // BusError.Key
	}{
		{"pir", func(c *hardware.Config) { c.PIR = "GPIO99" }, "io.pir: pin GPIO99 not found", &hardware.PinError{Key: "pir", Name: "GPIO99"}, ""},
		{"button", func(c *hardware.Config) { c.Buttons.Staff = "GPI024" }, "io.buttons.staff: pin GPI024 not found", &hardware.PinError{Key: "buttons.staff", Name: "GPI024"}, ""},
		{"led", func(c *hardware.Config) { c.PIR = "GPIO5"; c.CameraLED = "P1_99" }, "io.camera_led: pin P1_99 not found", &hardware.PinError{Key: "camera_led", Name: "P1_99"}, ""},
		{"i2c", func(c *hardware.Config) { c.Light.Driver = "pca9685"; c.Light.I2CBus = "7" }, `io.light.i2c_bus: open I2C bus 7: hardwaretest: no I2C bus "7"`, nil, "light.i2c_bus"},
		{"spi", func(c *hardware.Config) { c.Light.Driver = "apa102" }, `io.light.spi_port: open SPI port (first): hardwaretest: no SPI port ""`, nil, "light.spi_port"},
		{"pin twice", func(c *hardware.Config) { c.PIR = "GPIO5"; c.Buttons.Compare = "GPIO5" }, "io.buttons.compare: pin GPIO5 is already used by pir", nil, ""},
		{"bus pin", func(c *hardware.Config) { c.Light.Driver = "apa102"; c.Buttons.Capture = "GPIO10" }, "io.buttons.capture: pin GPIO10 is SPI0 MOSI, used by the apa102 lights", nil, ""},
		{"bad channel", func(c *hardware.Config) { c.Light.Driver = "pca9685"; c.Light.Channels = []string{"0", "16"} }, `io.light.channels: "16" is not a PCA9685 output (0..15)`, nil, ""},
		{"bad scene", func(c *hardware.Config) { c.Light.Driver = "apa102"; c.Light.Scenes = []string{"warm=100/50"} }, `io.light.scenes: "warm=100/50": 2 levels, want 1 or 3 (one per channel)`, nil, ""},
		{"bad level", func(c *hardware.Config) { c.Light.Driver = "pca9685"; c.Light.Scenes = []string{"glow=120"} }, `io.light.scenes: "glow=120": level "120" must be a percentage 0..100`, nil, ""},
		{"unknown default", func(c *hardware.Config) { c.Light.Driver = "pca9685"; c.Light.Default = "dusk" }, `io.light.default: unknown scene "dusk" (have daylight, evening, off)`, nil, ""},
		{"unknown screen", func(c *hardware.Config) { c.Light.Screens = []string{"welcom=daylight"} }, `io.light.screens: "welcom=daylight": unknown screen "welcom" (have idle, welcome, countdown, review, qr, bound, compare, goodbye, error)`, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := hardware.DefaultConfig
			tt.set(&cfg)
			d, err := hardware.Open(cfg, hardware.Options{Registry: have().Registry()})
			if err == nil {
				d.Close()
				t.Fatalf("Open = nil error, want %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("Open error = %q, want %q", err, tt.want)
			}
			if tt.wantPin != nil {
				var pe *hardware.PinError
				if !errors.As(err, &pe) {
					t.Fatalf("Open error %T is not a *PinError", err)
				}
				if diff := cmp.Diff(tt.wantPin, pe); diff != "" {
					t.Errorf("PinError (-want +got):\n%s", diff)
				}
			}
			if tt.wantBus != "" {
				var be *hardware.BusError
				if !errors.As(err, &be) || be.Key != tt.wantBus {
					t.Errorf("Open error %#v, want a *BusError for %s", err, tt.wantBus)
				}
			}
		})
	}
}

func TestNothingConfiguredTouchesNoHardware(t *testing.T) {
	reg := &hardware.Registry{
		Pin: func(name string) gpio.PinIO { t.Errorf("Pin(%q) called with nothing configured", name); return nil },
		I2C: func(name string) (i2c.BusCloser, error) {
			t.Errorf("I2C(%q) called", name)
			return nil, errors.New("no")
		},
		SPI: func(name string) (spi.PortCloser, error) {
			t.Errorf("SPI(%q) called", name)
			return nil, errors.New("no")
		},
	}
	synctest.Test(t, func(t *testing.T) {
		d, err := hardware.Open(hardware.DefaultConfig, hardware.Options{Registry: reg})
		if err != nil {
			t.Fatal(err)
		}
		stop := running(t, d)
		if err := d.SetCameraActive(true); err != nil {
			t.Errorf("SetCameraActive = %v, want nil without an LED", err)
		}
		if err := d.SetScene("daylight"); !errors.Is(err, hardware.ErrUnknownScene) {
			t.Errorf("SetScene without lights = %v, want ErrUnknownScene", err)
		}
		if err := stop(); err != nil {
			t.Errorf("Run = %v", err)
		}
		if err := d.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
	})
	if got := hardware.Check(hardware.DefaultConfig); got != nil {
		t.Errorf("Check(nothing configured) = %v, want no lines", got)
	}
}

func TestOpenI2CSharesTheLightsBus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		chip := &hardwaretest.PCA9685{Addr: 0x40}
		opened := 0
		reg := &hardware.Registry{I2C: func(name string) (i2c.BusCloser, error) {
			if name != "1" {
				return nil, errors.New("no such bus")
			}
			opened++
			return chip, nil
		}}
		cfg := hardware.DefaultConfig
		cfg.Light.Driver, cfg.Light.I2CBus = "pca9685", "1"
		d, err := hardware.Open(cfg, hardware.Options{Registry: reg})
		if err != nil {
			t.Fatal(err)
		}
		oled, err := d.OpenI2C("1") // the status display on the same bus
		if err != nil {
			t.Fatal(err)
		}
		var mode [1]byte
		if err := oled.Tx(0x40, []byte{0x00}, mode[:]); err != nil || mode[0] != chip.Register(0) {
			t.Errorf("Tx through the shared bus = %v, MODE1 %#x, want %#x", err, mode[0], chip.Register(0))
		}
		if opened != 1 {
			t.Errorf("bus opened %d times, want once", opened)
		}
		if err := d.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
		if chip.Closed() {
			t.Errorf("bus closed while the OLED still uses it")
		}
		if err := oled.Close(); err != nil {
			t.Errorf("oled Close = %v", err)
		}
		if !chip.Closed() {
			t.Errorf("bus still open after its last user closed")
		}
		if err := oled.Close(); err == nil {
			t.Errorf("second Close of a shared handle = nil, want an error")
		}
	})
}

func TestZeroConfigGetsDefaultsWithoutMutation(t *testing.T) {
	cfg := hardware.Config{Light: hardware.Light{Driver: "apa102", Scenes: []string{"glow=50"}}}
	cfg.Buttons.Capture = "GPIO27"
	before := cfg
	before.Light.Scenes = append([]string(nil), cfg.Light.Scenes...)
	rec := &spitest.Record{}
	host := &hardwaretest.Host{Pins: map[string]gpio.PinIO{"GPIO27": newPin("GPIO27")}, SPI: map[string]spi.PortCloser{"": rec}}
	d, err := hardware.Open(cfg, hardware.Options{Registry: host.Registry()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if diff := cmp.Diff(before, cfg); diff != "" {
		t.Errorf("Open changed the caller's config (-before +after):\n%s", diff)
	}
	if got := d.Scene(); got != "daylight" {
		t.Errorf("Scene() = %q, want the default daylight", got)
	}
	rec.Lock()
	n := len(rec.Ops[0].W)
	rec.Unlock()
	if want := 4 + 4*60 + 60/16 + 1; n != want { // the default 60 LEDs
		t.Errorf("frame of %d bytes, want %d (60 LEDs)", n, want)
	}
	if got := hardware.Check(hardware.Config{}); got != nil {
		t.Errorf("Check(zero config) = %v, want nothing", got)
	}
}
