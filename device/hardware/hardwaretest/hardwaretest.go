// Package hardwaretest holds fakes for testing code that uses device/hardware without hardware, in the
// spirit of periph's gpiotest and i2ctest: a Host of named fake pins and buses, and a
// simulated PCA9685 whose registers can be read back.
//
// Inputs are periph's gpiotest.Pin: give each an EdgesChan and send levels on it to
// simulate edges. Run such tests in a testing/synctest bubble (create the pins and channels
// inside it) so that debounce and long-press times pass without sleeping.
package hardwaretest

import (
	"fmt"
	"slices"
	"sync"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"

	"github.com/fitmirror/fitmirror/device/hardware"
)

// Host is a machine with the pins and buses listed; anything else is missing.
type Host struct {
	Pins map[string]gpio.PinIO
	I2C  map[string]i2c.BusCloser
	SPI  map[string]spi.PortCloser
}

// Registry returns the registry to pass in io.Options.
func (h *Host) Registry() *hardware.Registry {
	return &hardware.Registry{
		Pin: func(name string) gpio.PinIO {
			if p, ok := h.Pins[name]; ok {
				return p
			}
			return nil
		},
		I2C: func(name string) (i2c.BusCloser, error) {
			if b, ok := h.I2C[name]; ok {
				return b, nil
			}
			return nil, fmt.Errorf("hardwaretest: no I2C bus %q", name)
		},
		SPI: func(name string) (spi.PortCloser, error) {
			if p, ok := h.SPI[name]; ok {
				return p, nil
			}
			return nil, fmt.Errorf("hardwaretest: no SPI port %q", name)
		},
	}
}

// PCA9685 simulates a PCA9685 PWM controller on an I²C bus: it keeps the 256 registers,
// writes auto-increment, writes to the ALL_LED registers reach every channel, and a
// transaction for another address fails like a missing device. It implements i2c.BusCloser.
type PCA9685 struct {
	Addr uint16

	mu      sync.Mutex
	regs    [256]byte
	history [16][]int
	closed  bool
	fail    error
}

// SetFailing makes every transaction fail with err (a loose wire); nil heals the bus.
func (p *PCA9685) SetFailing(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail = err
}

var _ i2c.BusCloser = (*PCA9685)(nil)

func (p *PCA9685) String() string { return fmt.Sprintf("PCA9685@%#x", p.Addr) }

// Tx implements i2c.Bus.
func (p *PCA9685) Tx(addr uint16, w, r []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("hardwaretest: PCA9685: bus closed")
	}
	if p.fail != nil {
		return p.fail
	}
	if addr != p.Addr {
		return fmt.Errorf("hardwaretest: PCA9685: no device at %#x (NACK)", addr)
	}
	if len(w) == 0 {
		return fmt.Errorf("hardwaretest: PCA9685: transaction without a register")
	}
	reg := int(w[0])
	for i, b := range w[1:] {
		at := (reg + i) % 256
		p.regs[at] = b
		if at >= 0xFA && at <= 0xFD { // ALL_LED_ON_L..ALL_LED_OFF_H
			for ch := range 16 {
				p.regs[6+4*ch+at-0xFA] = b
			}
		}
	}
	for i := range r {
		r[i] = p.regs[(reg+i)%256]
	}
	if len(w) > 1 {
		for ch := range 16 {
			d := p.duty(ch)
			if h := p.history[ch]; len(h) == 0 || h[len(h)-1] != d {
				p.history[ch] = append(h, d)
			}
		}
	}
	return nil
}

// SetSpeed implements i2c.Bus.
func (p *PCA9685) SetSpeed(physic.Frequency) error { return nil }

// Close implements i2c.BusCloser.
func (p *PCA9685) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	return nil
}

// Closed reports whether Close was called.
func (p *PCA9685) Closed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// Duty is the output duty of channel ch in 12-bit counts: 0 (full off) to 4095 (full on).
func (p *PCA9685) Duty(ch int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.duty(ch)
}

func (p *PCA9685) duty(ch int) int {
	base := 6 + 4*ch
	on := int(p.regs[base]) | int(p.regs[base+1])<<8
	off := int(p.regs[base+2]) | int(p.regs[base+3])<<8
	switch {
	case off&0x1000 != 0: // full off wins
		return 0
	case on&0x1000 != 0:
		return 4095
	}
	return (off - on) & 0xFFF
}

// History is every distinct duty channel ch had, in order (starting with the first write).
func (p *PCA9685) History(ch int) []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.history[ch])
}

// Register returns one register's value (e.g. 0xFE, the prescaler).
func (p *PCA9685) Register(reg byte) byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.regs[reg]
}
