package hardware

import (
	"errors"
	"fmt"
	"strings"

	"periph.io/x/conn/v3/gpio"
)

// Result is the outcome of probing one configured part for `mirror-agent check`.
type Result struct {
	Part   string // "pir", "button.capture", "camera-led", "light"
	Detail string // what works, when Err is nil
	Err    error  // one line naming the problem
	Hint   string // the installer's fix, when Err is not nil
}

// String formats r like the other check lines: "ok    part       detail" or
// "FAIL  part       error — hint".
func (r Result) String() string {
	if r.Err != nil {
		return fmt.Sprintf("FAIL  %-10s %s — %s", r.Part, oneLine(r.Err), r.Hint)
	}
	return fmt.Sprintf("ok    %-10s %s", r.Part, r.Detail)
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// Check probes every configured pin and bus of this machine: one Result per part, none when
// nothing is configured (the host is then not touched). It does not change what the outputs
// show except switching the camera-active LED off.
func Check(cfg Config) []Result {
	if !cfg.Configured() {
		return nil
	}
	reg, err := Host()
	if err != nil {
		return []Result{{Part: "io", Err: err, Hint: "run as root or add the user to the gpio, i2c and spi groups"}}
	}
	return reg.Check(cfg)
}

// Check probes cfg's parts through r; see the function Check.
func (r Registry) Check(cfg Config) []Result {
	var out []Result
	cfg = clone(cfg)
	if err := cfg.Validate(); err != nil {
		return []Result{{Part: "io", Err: fmt.Errorf("io.%w", err), Hint: "fix the io: section of the config"}}
	}
	if cfg.PIR != "" {
		out = append(out, r.checkInput("pir", "pir", cfg.PIR, level(cfg.PIRActive), "sees someone", "nobody"))
	}
	bActive := level(cfg.Buttons.Active)
	for _, b := range []struct{ name, pin string }{
		{ButtonCapture, cfg.Buttons.Capture}, {ButtonCompare, cfg.Buttons.Compare}, {ButtonStaff, cfg.Buttons.Staff},
	} {
		if b.pin == "" {
			continue
		}
		res := r.checkInput("button."+b.name, "buttons."+b.name, b.pin, bActive, "pressed", "released")
		if res.Err == nil && strings.HasSuffix(res.Detail, " pressed") {
			side := "GND"
			if bActive == gpio.High {
				side = "3.3 V"
			}
			res.Err = fmt.Errorf("io.buttons.%s: %s reads pressed", b.name, b.pin)
			res.Hint = fmt.Sprintf("release it; if it stays pressed, wire the button between the pin and %s (io.buttons.active: %s)", side, cfg.Buttons.Active)
		}
		out = append(out, res)
	}
	if cfg.CameraLED != "" {
		res := Result{Part: "camera-led"}
		p, err := r.pin("camera_led", cfg.CameraLED)
		switch {
		case err != nil:
			res.Err, res.Hint = err, hintOf(err)
		default:
			if err := p.Out(!level(cfg.CameraLEDActive)); err != nil {
				res.Err = fmt.Errorf("io.camera_led: %s: switch off: %w", cfg.CameraLED, err)
				res.Hint = "is the pin used by another program or a dtoverlay?"
			} else {
				res.Detail = cfg.CameraLED + " output, off"
			}
		}
		out = append(out, res)
	}
	switch cfg.Light.Driver {
	case "pca9685":
		out = append(out, r.checkPCA9685(cfg.Light))
	case "apa102":
		out = append(out, r.checkAPA102(cfg.Light))
	}
	return out
}

func (r Registry) checkInput(part, key, name string, active gpio.Level, on, off string) Result {
	res := Result{Part: part}
	p, err := r.pin(key, name)
	if err != nil {
		res.Err, res.Hint = err, hintOf(err)
		return res
	}
	if err := p.In(pullFor(active), gpio.NoEdge); err != nil {
		res.Err = fmt.Errorf("io.%s: %s: set up as input: %w", key, name, err)
		res.Hint = "is the pin used by another program or a dtoverlay?"
		return res
	}
	state := off
	if p.Read() == active {
		state = on
	}
	res.Detail = fmt.Sprintf("%s input, %s", name, state)
	return res
}

func (r Registry) checkPCA9685(l Light) Result {
	res := Result{Part: "light"}
	b := &buses{reg: r}
	bus, err := b.openI2C(l.I2CBus)
	if err != nil {
		res.Err, res.Hint = err, hintOf(err)
		return res
	}
	defer bus.Close()
	var mode [1]byte
	if err := bus.Tx(uint16(l.I2CAddr), []byte{0x00}, mode[:]); err != nil { // read MODE1
		res.Err = fmt.Errorf("io.light.i2c_addr: no PCA9685 answers at %#x: %v", l.I2CAddr, err)
		res.Hint = fmt.Sprintf("check SDA/SCL/VCC/GND and the address jumpers; i2cdetect -y %s lists what answers", busNumber(l.I2CBus))
		return res
	}
	res.Detail = fmt.Sprintf("PCA9685 at %#x on I2C %s, channels %s", l.I2CAddr, busLabel(l.I2CBus), strings.Join(l.Channels, ","))
	return res
}

func (r Registry) checkAPA102(l Light) Result {
	res := Result{Part: "light"}
	if r.SPI == nil {
		res.Err = &BusError{Key: "light.spi_port", Name: l.SPIPort, Err: errors.New("no SPI on this host")}
		res.Hint = hintOf(res.Err)
		return res
	}
	port, err := r.SPI(l.SPIPort)
	if err != nil {
		res.Err = &BusError{Key: "light.spi_port", Name: l.SPIPort, Err: err}
		res.Hint = hintOf(res.Err)
		return res
	}
	if err := port.Close(); err != nil {
		res.Err = fmt.Errorf("io.light.spi_port: close: %w", err)
		res.Hint = "is the port used by another program?"
		return res
	}
	res.Detail = fmt.Sprintf("SPI %s opens for %d APA102 LEDs (the strip cannot answer back: watch it light up)", busLabel(l.SPIPort), l.LEDs)
	return res
}

func hintOf(err error) string {
	var h interface{ Hint() string }
	if errors.As(err, &h) {
		return h.Hint()
	}
	return "see docs/hardware.md"
}

func busLabel(name string) string {
	if name == "" {
		return "(first)"
	}
	return name
}

// busNumber guesses the i2cdetect bus number from a bus name.
func busNumber(name string) string {
	n := strings.TrimPrefix(name, "/dev/i2c-")
	if n == "" {
		return "1"
	}
	return n
}
