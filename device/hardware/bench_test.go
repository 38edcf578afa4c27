package hardware

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
)

// nullBus is an I²C bus that accepts every transaction (reads return zeros) and counts bytes.
type nullBus struct{ bytes int }

func (b *nullBus) String() string                  { return "null" }
func (b *nullBus) Tx(_ uint16, w, r []byte) error  { b.bytes += len(w) + len(r); clear(r); return nil }
func (b *nullBus) SetSpeed(physic.Frequency) error { return nil }
func (b *nullBus) Close() error                    { return nil }

// nullPort is an SPI port that discards frames and counts bytes.
type nullPort struct{ bytes int }

func (p *nullPort) String() string                                            { return "null" }
func (p *nullPort) Close() error                                              { return nil }
func (p *nullPort) LimitSpeed(physic.Frequency) error                         { return nil }
func (p *nullPort) Duplex() conn.Duplex                                       { return conn.Half }
func (p *nullPort) Tx(w, r []byte) error                                      { p.bytes += len(w); return nil }
func (p *nullPort) TxPackets(ps []spi.Packet) error                           { return nil }
func (p *nullPort) Connect(physic.Frequency, spi.Mode, int) (spi.Conn, error) { return p, nil }

// benchFade measures one fade step (levels computed and written) on drv, fading between
// daylight and off back and forth.
func benchFade(b *testing.B, drv driver, cfg Light) {
	l, err := newLights(drv, cfg, DefaultFadeStep, slog.Default())
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	scenes := []string{"off", "daylight"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%50 == 0 { // a new 1 s fade every 50 steps
			if err := l.setScene(scenes[(i/50)%2]); err != nil {
				b.Fatal(err)
			}
			l.mu.Lock()
			l.start = now
			l.mu.Unlock()
		}
		now = now.Add(DefaultFadeStep)
		l.advance(now)
		i++
	}
}

func BenchmarkFadeStepPCA9685(b *testing.B) {
	bus := &nullBus{}
	cfg := DefaultConfig.Light
	cfg.Driver, cfg.Channels, cfg.Fade = "pca9685", []string{"0", "1"}, time.Second
	drv, err := openPCA9685(bus, 0x40, 1000, []int{0, 1}) // sleeps 0.3 s once: the chip's start-up
	if err != nil {
		b.Fatal(err)
	}
	bus.bytes = 0
	benchFade(b, drv, cfg)
	b.ReportMetric(float64(bus.bytes)/float64(b.N), "i2c-bytes/step")
}

func BenchmarkFadeStepAPA102(b *testing.B) {
	for _, leds := range []int{60, 300} {
		b.Run(fmt.Sprintf("%dleds", leds), func(b *testing.B) {
			port := &nullPort{}
			cfg := DefaultConfig.Light
			cfg.Driver, cfg.LEDs, cfg.Fade = "apa102", leds, time.Second
			drv, err := openAPA102(port, cfg.SPIHz, leds)
			if err != nil {
				b.Fatal(err)
			}
			port.bytes = 0
			benchFade(b, drv, cfg)
			b.ReportMetric(float64(port.bytes)/float64(b.N), "spi-bytes/step")
		})
	}
}

// BenchmarkGestureSample is the work per sampled button level (edges and polls).
func BenchmarkGestureSample(b *testing.B) {
	g := newGestures("capture", gpio.Low, 30*time.Millisecond, time.Second, 400*time.Millisecond)
	now := time.Now()
	levels := []gpio.Level{gpio.Low, gpio.High}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		now = now.Add(100 * time.Millisecond)
		g.sample(levels[i%2], now)
		i++
	}
}
