package hardware_test

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"periph.io/x/conn/v3/conntest"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spitest"

	"github.com/fitmirror/fitmirror/device/hardware"
	"github.com/fitmirror/fitmirror/device/hardware/hardwaretest"
	"github.com/fitmirror/fitmirror/display"
)

// pcaInit is the PCA9685 bring-up periph's driver performs at addr, then the switch from its
// 50 Hz default to 1 kHz (prescale 25 MHz/4096/1000 ≈ 6): registers MODE1 0x00, MODE2 0x01,
// PRESCALE 0xFE, ALL_LED 0xFA.
func pcaInit(addr uint16) []i2ctest.IO {
	return []i2ctest.IO{
		{Addr: addr, W: []byte{0xFA, 0, 0, 0, 0}},      // all outputs off
		{Addr: addr, W: []byte{0x01, 0x04}},            // MODE2: totem pole
		{Addr: addr, W: []byte{0x00, 0x01}},            // MODE1: all-call
		{Addr: addr, W: []byte{0x00}, R: []byte{0x01}}, // read MODE1
		{Addr: addr, W: []byte{0x00, 0x21}},            // wake, auto-increment
		{Addr: addr, W: []byte{0x00}, R: []byte{0x21}}, // 50 Hz: read MODE1
		{Addr: addr, W: []byte{0x00, 0x31}},            // sleep
		{Addr: addr, W: []byte{0xFE, 122}},             // prescale for 50 Hz
		{Addr: addr, W: []byte{0x00, 0x21}},            // wake
		{Addr: addr, W: []byte{0x00, 0xA1}},            // restart
		{Addr: addr, W: []byte{0x00}, R: []byte{0x21}}, // 1 kHz: read MODE1
		{Addr: addr, W: []byte{0x00, 0x31}},
		{Addr: addr, W: []byte{0xFE, 6}}, // prescale for 1 kHz
		{Addr: addr, W: []byte{0x00, 0x21}},
		{Addr: addr, W: []byte{0x00, 0xA1}},
	}
}

// Channel n's registers start at 0x06+4n: ON_L, ON_H, OFF_L, OFF_H; bit 4 of ON_H is full
// on, bit 4 of OFF_H full off (and wins).
func fullOn(addr uint16, ch byte) i2ctest.IO {
	return i2ctest.IO{Addr: addr, W: []byte{0x06 + 4*ch + 1, 0x10, 0, 0}}
}
func fullOff(addr uint16, ch byte) i2ctest.IO {
	return i2ctest.IO{Addr: addr, W: []byte{0x06 + 4*ch + 3, 0x10}}
}
func pwm(addr uint16, ch byte, off int) i2ctest.IO {
	return i2ctest.IO{Addr: addr, W: []byte{0x06 + 4*ch, 0, 0, byte(off), byte(off >> 8)}}
}

func TestPCA9685Transactions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) { // the driver sleeps while the chip's oscillator starts
		const addr = 0x41
		ops := pcaInit(addr)
		ops = append(ops,
			fullOn(addr, 0), fullOn(addr, 3), // default: daylight, 100 % on both
			pwm(addr, 0, 407), pwm(addr, 3, 407), // evening: 35 % perceived = 4095·0.35^2.2 ≈ 407
			pwm(addr, 3, 119),                  // warm=35/20: channel 0 already right; 20 % ≈ 119
			fullOff(addr, 0), fullOff(addr, 3), // off
			fullOn(addr, 0), fullOn(addr, 3), // Close: back to the default
		)
		bus := &i2ctest.Playback{Ops: ops, DontPanic: true}
		host := &hardwaretest.Host{I2C: map[string]i2c.BusCloser{"1": bus}}
		cfg := hardware.DefaultConfig
		cfg.Light.Driver, cfg.Light.I2CBus, cfg.Light.I2CAddr = "pca9685", "1", addr
		cfg.Light.Channels = []string{"0", "3"}
		cfg.Light.Scenes = []string{"warm=35/20"}
		cfg.Light.Fade = 0
		d, err := hardware.Open(cfg, hardware.Options{Registry: host.Registry()})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"evening", "warm", "off"} {
			if err := d.SetScene(s); err != nil {
				t.Errorf("SetScene(%q) = %v", s, err)
			}
		}
		if err := d.SetScene("disco"); !errors.Is(err, hardware.ErrUnknownScene) {
			t.Errorf("SetScene(disco) = %v, want ErrUnknownScene", err)
		}
		if err := d.Close(); err != nil { // i2ctest.Playback.Close fails on leftover transactions
			t.Errorf("Close = %v", err)
		}
		if bus.Count != len(ops) {
			t.Errorf("%d of %d transactions done", bus.Count, len(ops))
		}
	})
}

// openPCA opens an IO whose lights are a simulated PCA9685 on channel 0 fading over 1 s.
func openPCA(t *testing.T, extra func(*hardware.Config)) (*hardware.IO, *hardwaretest.PCA9685, *hardwaretest.Host) {
	t.Helper()
	chip := &hardwaretest.PCA9685{Addr: 0x40}
	host := &hardwaretest.Host{I2C: map[string]i2c.BusCloser{"": chip}, Pins: map[string]gpio.PinIO{}}
	cfg := hardware.DefaultConfig
	cfg.Light.Driver = "pca9685"
	cfg.Light.Fade = time.Second
	if extra != nil {
		extra(&cfg)
	}
	for _, p := range []string{cfg.CameraLED} {
		if p != "" {
			host.Pins[p] = newPin(p)
		}
	}
	d, err := hardware.Open(cfg, hardware.Options{Registry: host.Registry()})
	if err != nil {
		t.Fatal(err)
	}
	return d, chip, host
}

func TestSceneFades(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, chip, _ := openPCA(t, nil)
		if got := chip.Duty(0); got != 4095 {
			t.Fatalf("duty after Open = %d, want 4095 (default scene daylight)", got)
		}
		if got := chip.Register(0xFE); got != 6 {
			t.Errorf("prescaler = %d, want 6 (1 kHz)", got)
		}
		stop := running(t, d)

		// daylight → off over 1 s on a smoothstep curve in perceived brightness.
		if err := d.SetScene("off"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * ms)
		synctest.Wait()
		if got := chip.Duty(0); got != 891 { // half brightness: 4095·0.5^2.2
			t.Errorf("duty half-way = %d, want 891", got)
		}
		time.Sleep(500 * ms)
		synctest.Wait()
		if got := chip.Duty(0); got != 0 {
			t.Errorf("duty after the fade = %d, want 0", got)
		}
		h := chip.History(0)
		h = h[slices.Index(h, 4095):] // from daylight on (the chip starts all off)
		if !slices.IsSortedFunc(h, func(a, b int) int { return b - a }) {
			t.Errorf("fade to off is not monotonic: %v", h)
		}
		if len(h) < 40 { // 50 steps of 20 ms; a few repeat near the ends
			t.Errorf("fade to off took %d distinct steps, want a smooth fade (≥ 40): %v", len(h), h)
		}

		// A new scene mid-fade starts from where the light is, without a jump.
		if err := d.SetScene("daylight"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * ms)
		synctest.Wait()
		mid := chip.Duty(0)
		if err := d.SetScene("evening"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * ms)
		synctest.Wait()
		if got := chip.Duty(0); got < mid-20 || got > mid+20 {
			t.Errorf("first step after changing scene mid-fade = %d, want close to %d", got, mid)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got := chip.Duty(0); got != 407 {
			t.Errorf("duty after fading to evening = %d, want 407", got)
		}

		// Screens pick scenes: welcome brightens, idle dims, others keep the scene.
		d.Show(display.Screen{Scene: display.SceneWelcome})
		time.Sleep(1100 * ms)
		if got := d.Scene(); got != "daylight" {
			t.Errorf("scene after welcome = %q, want daylight", got)
		}
		d.Show(display.Screen{Scene: display.SceneQR})
		if got := d.Scene(); got != "daylight" {
			t.Errorf("scene after qr = %q, want daylight (not mapped: kept)", got)
		}
		d.Show(display.Idle)
		time.Sleep(1100 * ms)
		synctest.Wait()
		if got, want := chip.Duty(0), 407; d.Scene() != "evening" || got != want {
			t.Errorf("after idle: scene %q duty %d, want evening %d", d.Scene(), got, want)
		}
		if err := stop(); err != nil {
			t.Errorf("Run = %v", err)
		}
		if err := d.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
	})
}

func TestSafeState(t *testing.T) {
	for _, active := range []string{"high", "low"} {
		t.Run("led active "+active, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				d, chip, host := openPCA(t, func(c *hardware.Config) {
					c.CameraLED, c.CameraLEDActive = "GPIO22", active
					c.Light.Default = "evening"
				})
				on, off := gpio.High, gpio.Low
				if active == "low" {
					on, off = off, on
				}
				led := func() gpio.Level { return level(host.Pins["GPIO22"].(*gpiotest.Pin)) }
				if got := led(); got != off {
					t.Errorf("LED after Open = %s, want %s (off)", got, off)
				}
				stop := running(t, d)
				if err := d.SetCameraActive(true); err != nil {
					t.Fatal(err)
				}
				if got := led(); got != on {
					t.Errorf("LED while active = %s, want %s", got, on)
				}
				if err := d.SetScene("daylight"); err != nil {
					t.Fatal(err)
				}
				time.Sleep(400 * ms) // mid-fade when the agent stops
				if err := stop(); err != nil {
					t.Errorf("Run = %v", err)
				}
				if got := led(); got != off {
					t.Errorf("LED after Run ended = %s, want %s (off)", got, off)
				}
				if got := chip.Duty(0); got != 407 {
					t.Errorf("duty after Run ended = %d, want 407 (default scene evening, at once)", got)
				}
				// Halt keeps the IO usable; Close halts too and releases the bus.
				if err := d.SetScene("daylight"); err != nil {
					t.Fatal(err)
				}
				if err := d.SetCameraActive(true); err != nil {
					t.Fatal(err)
				}
				if err := d.Close(); err != nil {
					t.Errorf("Close = %v", err)
				}
				if got, d := led(), chip.Duty(0); got != off || d != 407 {
					t.Errorf("after Close: LED %s duty %d, want %s and 407", got, d, off)
				}
				if !chip.Closed() {
					t.Errorf("I2C bus still open after Close")
				}
			})
		})
	}
}

// apaFrame is what an APA102 strip of n LEDs receives: a zero start frame, one 4-byte frame per
// LED (0xE0|brightness, blue, green, red) and 0xFF end bytes (n/16+1).
func apaFrame(n int, px [4]byte) []byte {
	f := []byte{0, 0, 0, 0}
	for range n {
		f = append(f, px[:]...)
	}
	for range n/16 + 1 {
		f = append(f, 0xFF)
	}
	return f
}

func TestAPA102Frames(t *testing.T) {
	const n = 20
	white := [4]byte{0xFF, 0xFF, 0xFF, 0xFF} // full global brightness, full colour
	red := [4]byte{0xFF, 0, 0, 0xFF}
	dark := [4]byte{0xE1, 0, 0, 0}
	port := &spitest.Playback{Playback: conntest.Playback{DontPanic: true, Ops: []conntest.IO{
		{W: apaFrame(n, white)}, // default daylight
		{W: apaFrame(n, red)},   // custom red=100/0/0
		{W: apaFrame(n, dark)},  // off
		{W: apaFrame(n, white)}, // Close: back to daylight
	}}}
	host := &hardwaretest.Host{SPI: map[string]spi.PortCloser{"/dev/spidev0.0": port}}
	cfg := hardware.DefaultConfig
	cfg.Light.Driver, cfg.Light.SPIPort, cfg.Light.LEDs = "apa102", "/dev/spidev0.0", n
	cfg.Light.Scenes = []string{"red=100/0/0"}
	cfg.Light.Fade = 0
	d, err := hardware.Open(cfg, hardware.Options{Registry: host.Registry()})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"red", "red", "off"} { // the same scene twice sends nothing new
		if err := d.SetScene(s); err != nil {
			t.Errorf("SetScene(%q) = %v", s, err)
		}
	}
	if err := d.Close(); err != nil { // spitest.Playback.Close fails on leftover frames
		t.Errorf("Close = %v", err)
	}
}

func TestAPA102Fade(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 8
		rec := &spitest.Record{}
		host := &hardwaretest.Host{SPI: map[string]spi.PortCloser{"": rec}}
		cfg := hardware.DefaultConfig
		cfg.Light.Driver, cfg.Light.LEDs, cfg.Light.Fade = "apa102", n, 500*ms
		d, err := hardware.Open(cfg, hardware.Options{Registry: host.Registry(), FadeStep: 10 * ms})
		if err != nil {
			t.Fatal(err)
		}
		stop := running(t, d)
		if err := d.SetScene("evening"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(600 * ms)
		if err := stop(); err != nil {
			t.Errorf("Run = %v", err)
		}
		rec.Lock()
		frames := len(rec.Ops)
		first, last := rec.Ops[0].W, rec.Ops[frames-1].W
		rec.Unlock()
		// Open, ~50 fade steps of 10 ms (a few identical ones skipped), and the halt at the end.
		if frames < 40 || frames > 53 {
			t.Errorf("%d frames for a 500 ms fade in 10 ms steps, want about 50", frames)
		}
		if diff := cmp.Diff(apaFrame(n, [4]byte{0xFF, 0xFF, 0xFF, 0xFF}), first); diff != "" {
			t.Errorf("first frame (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(first, last); diff != "" {
			t.Errorf("frame after Run ended is not the default scene (-want +got):\n%s", diff)
		}
		if err := d.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
	})
}

func TestFadeSurvivesABusFault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, chip, _ := openPCA(t, nil)
		stop := running(t, d)
		if err := d.SetScene("evening"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * ms)
		chip.SetFailing(errors.New("i2c: remote I/O error"))
		time.Sleep(2 * time.Second) // the fade's time runs out while the bus is down
		synctest.Wait()
		stuck := chip.Duty(0)
		if stuck == 407 || stuck == 4095 {
			t.Fatalf("duty %d while the bus was down, want the level it had at 200 ms", stuck)
		}
		chip.SetFailing(nil)
		time.Sleep(40 * ms)
		synctest.Wait()
		if got := chip.Duty(0); got != 407 {
			t.Errorf("duty after the bus healed = %d, want 407 (evening): the fade retries", got)
		}
		chip.SetFailing(errors.New("i2c: remote I/O error"))
		if err := d.SetScene("off"); err != nil { // a fade only starts here; writes fail later
			t.Errorf("SetScene while the bus is down = %v, want nil (the fade retries)", err)
		}
		err := stop()
		if err == nil || !strings.Contains(err.Error(), "remote I/O error") {
			t.Errorf("Run = %v, want the halt's bus error", err)
		}
		chip.SetFailing(nil)
		if err := d.Close(); err != nil {
			t.Errorf("Close after the bus healed = %v", err)
		}
		if got := chip.Duty(0); got != 4095 {
			t.Errorf("duty after Close = %d, want 4095 (default daylight)", got)
		}
	})
}

// cloud/fleet/commands answers set-light with bad_args when SetScene's error has an
// UnknownScene method returning true; it does not import this package, so this is the contract.
func TestUnknownSceneErrorContract(t *testing.T) {
	d, err := hardware.Open(hardware.Config{}, hardware.Options{}) // no lights
	if err != nil {
		t.Fatal(err)
	}
	err = d.SetScene("daylight")
	var unknown interface{ UnknownScene() bool }
	if !errors.As(err, &unknown) || !unknown.UnknownScene() || !errors.Is(err, hardware.ErrUnknownScene) {
		t.Errorf("SetScene without lights = %v, want an error with UnknownScene() true", err)
	}
	// The error says why (no lights at all), and docs/fleet.md's example of set-light on a
	// mirror without lights shows this very message (issue #24).
	if err == nil || !strings.Contains(err.Error(), "no lights configured") {
		t.Fatalf("SetScene without lights = %v, want it to say no lights are configured", err)
	}
	doc, rerr := os.ReadFile("../../docs/fleet.md")
	if rerr != nil || !strings.Contains(string(doc), "bad_args: "+err.Error()) {
		t.Errorf("docs/fleet.md does not show set-light's error without lights, bad_args: %s (%v)", err, rerr)
	}
}
