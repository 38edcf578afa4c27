package hardware

import (
	"errors"
	"fmt"
	"sync"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spireg"
	"periph.io/x/host/v3"
)

// Registry finds pins and opens buses by name. [Host] returns the registry of this machine;
// tests build one over periph's fakes (gpiotest.Pin, i2ctest.Playback, spitest.Playback).
type Registry struct {
	// Pin returns the GPIO named name ("GPIO17", "17", "P1_11"), or nil if there is none.
	Pin func(name string) gpio.PinIO
	// I2C opens an I²C bus by number or name; "" is the first bus.
	I2C func(name string) (i2c.BusCloser, error)
	// SPI opens an SPI port by name ("/dev/spidev0.0", "SPI0.0"); "" is the first port.
	SPI func(name string) (spi.PortCloser, error)
}

var (
	hostOnce sync.Once
	hostErr  error
)

// Host loads periph's host drivers (once per process) and returns the registry of this
// machine. Call it only when some hardware is configured ([Config.Configured]); [Open] and
// [Check] do so themselves.
func Host() (Registry, error) {
	hostOnce.Do(func() {
		if _, err := host.Init(); err != nil {
			hostErr = fmt.Errorf("io: load host drivers: %w", err)
		}
	})
	if hostErr != nil {
		return Registry{}, hostErr
	}
	return Registry{Pin: gpioreg.ByName, I2C: openI2C, SPI: openSPI}, nil
}

// openI2C is i2creg.Open with a plain message when the machine has no I²C bus at all (periph
// asks whether Init was called, which misleads here).
func openI2C(name string) (i2c.BusCloser, error) {
	if len(i2creg.All()) == 0 {
		return nil, errors.New("this machine has no I2C bus (no /dev/i2c-*)")
	}
	return i2creg.Open(name)
}

func openSPI(name string) (spi.PortCloser, error) {
	if len(spireg.All()) == 0 {
		return nil, errors.New("this machine has no SPI port (no /dev/spidev*)")
	}
	return spireg.Open(name)
}

// PinError reports a configured pin the host does not have.
type PinError struct {
	Key  string // the config key below io, e.g. "buttons.capture"
	Name string // the pin name as configured
}

func (e *PinError) Error() string {
	return fmt.Sprintf("io.%s: pin %s not found", e.Key, e.Name)
}

// Hint is the installer's fix for a missing pin.
func (e *PinError) Hint() string {
	return fmt.Sprintf("is this a Raspberry Pi? name pins by BCM number like GPIO17 (see docs/hardware.md) and fix io.%s", e.Key)
}

// BusError reports an I²C or SPI bus that does not open.
type BusError struct {
	Key  string // "light.i2c_bus" or "light.spi_port"
	Name string // the bus name as configured ("" = the first one)
	Err  error
}

func (e *BusError) Error() string {
	kind := "I2C bus"
	if e.Key == "light.spi_port" {
		kind = "SPI port"
	}
	name := e.Name
	if name == "" {
		name = "(first)"
	}
	return fmt.Sprintf("io.%s: open %s %s: %v", e.Key, kind, name, e.Err)
}

func (e *BusError) Unwrap() error { return e.Err }

// Hint is the installer's fix for a missing bus.
func (e *BusError) Hint() string {
	if e.Key == "light.spi_port" {
		return "enable SPI: raspi-config → Interface Options → SPI, or dtparam=spi=on in /boot/firmware/config.txt, then reboot"
	}
	return "enable I2C: raspi-config → Interface Options → I2C, or dtparam=i2c_arm=on in /boot/firmware/config.txt, then reboot"
}

// pin looks up a configured pin.
func (r Registry) pin(key, name string) (gpio.PinIO, error) {
	if r.Pin == nil {
		return nil, &PinError{Key: key, Name: name}
	}
	p := r.Pin(name)
	if p == nil {
		return nil, &PinError{Key: key, Name: name}
	}
	return p, nil
}

// buses shares opened I²C buses between users (the PCA9685 and the status OLED on one bus):
// each name opens once and closes when its last user closes.
type buses struct {
	reg  Registry
	mu   sync.Mutex
	open map[string]*busRef
}

type busRef struct {
	bus  i2c.BusCloser
	refs int
}

// sharedBus is one user's handle on a shared bus.
type sharedBus struct {
	i2c.Bus
	b    *buses
	name string
	once sync.Once
}

func (s *sharedBus) Close() error {
	err := errors.New("io: i2c bus already closed")
	s.once.Do(func() { err = s.b.release(s.name) })
	return err
}

func (b *buses) openI2C(name string) (i2c.BusCloser, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if r, ok := b.open[name]; ok {
		r.refs++
		return &sharedBus{Bus: r.bus, b: b, name: name}, nil
	}
	if b.reg.I2C == nil {
		return nil, &BusError{Key: "light.i2c_bus", Name: name, Err: errors.New("no I2C on this host")}
	}
	bus, err := b.reg.I2C(name)
	if err != nil {
		return nil, &BusError{Key: "light.i2c_bus", Name: name, Err: err}
	}
	if b.open == nil {
		b.open = map[string]*busRef{}
	}
	b.open[name] = &busRef{bus: bus, refs: 1}
	return &sharedBus{Bus: bus, b: b, name: name}, nil
}

func (b *buses) release(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.open[name]
	if r == nil {
		return nil
	}
	r.refs--
	if r.refs > 0 {
		return nil
	}
	delete(b.open, name)
	if err := r.bus.Close(); err != nil {
		return fmt.Errorf("io: close i2c bus %s: %w", name, err)
	}
	return nil
}
