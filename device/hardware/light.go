package hardware

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/devices/v3/apa102"
	"periph.io/x/devices/v3/pca9685"
)

// ErrUnknownScene is wrapped by SetScene for a scene name that is not configured. Its
// UnknownScene method tells the set-light command (cloud/fleet/commands) to answer bad_args
// without that package importing this one.
var ErrUnknownScene error = unknownScene{}

type unknownScene struct{}

func (unknownScene) Error() string      { return "unknown scene" }
func (unknownScene) UnknownScene() bool { return true }

// driver writes perceived brightness levels (0..1, one per channel) to the lights.
type driver interface {
	write(levels []float64) error
	close() error
}

// gamma maps perceived brightness to PWM duty: the eye sees 50 % duty as far brighter than
// half, so fades linear in perceived brightness need duty = level^2.2.
const gamma = 2.2

// pcaDriver drives PCA9685 outputs (each switching a MOSFET on an LED strip).
type pcaDriver struct {
	dev   *pca9685.Dev
	bus   i2c.BusCloser
	chans []int
	last  []int // duty last written per channel (0..4095), -1 = unknown
}

// pcaMax is the PCA9685's full scale (12 bits).
const pcaMax = 4095

func openPCA9685(bus i2c.BusCloser, addr uint16, hz int, chans []int) (*pcaDriver, error) {
	dev, err := pca9685.NewI2C(bus, addr)
	if err != nil {
		return nil, fmt.Errorf("io: light: init PCA9685 at %#x: %w", addr, err)
	}
	if err := dev.SetPwmFreq(physic.Frequency(hz) * physic.Hertz); err != nil {
		return nil, fmt.Errorf("io: light: set PCA9685 PWM to %d Hz: %w", hz, err)
	}
	last := make([]int, len(chans))
	for i := range last {
		last[i] = -1
	}
	return &pcaDriver{dev: dev, bus: bus, chans: chans, last: last}, nil
}

// pcaDuty is the 12-bit duty for a perceived level.
func pcaDuty(level float64) int {
	level = min(max(level, 0), 1)
	return int(math.Round(pcaMax * math.Pow(level, gamma)))
}

func (p *pcaDriver) write(levels []float64) error {
	for i, ch := range p.chans {
		d := pcaDuty(levels[i])
		if d == p.last[i] {
			continue
		}
		var err error
		switch d {
		case 0:
			err = p.dev.SetFullOff(ch)
		case pcaMax:
			err = p.dev.SetFullOn(ch)
		default:
			err = p.dev.SetPwm(ch, 0, gpio.Duty(d)) // 12-bit counts
		}
		if err != nil {
			p.last[i] = -1
			return fmt.Errorf("io: light: PCA9685 channel %d: %w", ch, err)
		}
		p.last[i] = d
	}
	return nil
}

func (p *pcaDriver) close() error { return p.bus.Close() }

// apaDriver drives an APA102 strip: every LED shows the scene's red/green/blue.
type apaDriver struct {
	dev  *apa102.Dev
	port spi.PortCloser
	buf  []byte
	last [3]byte
	sent bool
}

func openAPA102(port spi.PortCloser, hz, leds int) (*apaDriver, error) {
	if err := port.LimitSpeed(physic.Frequency(hz) * physic.Hertz); err != nil {
		return nil, fmt.Errorf("io: light: limit SPI to %d Hz: %w", hz, err)
	}
	// Neutral temperature and full intensity: the scene's colour is what the strip shows.
	// The driver's global-PWM ramp gives perceptually even steps, so levels go in linearly.
	dev, err := apa102.New(port, &apa102.Opts{NumPixels: leds, Intensity: 255, Temperature: apa102.NeutralTemp})
	if err != nil {
		return nil, fmt.Errorf("io: light: connect APA102: %w", err)
	}
	return &apaDriver{dev: dev, port: port, buf: make([]byte, 3*leds)}, nil
}

// apaByte is the 8-bit input level for a perceived level.
func apaByte(level float64) byte {
	return byte(math.Round(255 * min(max(level, 0), 1)))
}

func (a *apaDriver) write(levels []float64) error {
	c := [3]byte{apaByte(levels[0]), apaByte(levels[1]), apaByte(levels[2])}
	if a.sent && c == a.last {
		return nil
	}
	for i := 0; i < len(a.buf); i += 3 {
		copy(a.buf[i:], c[:])
	}
	if _, err := a.dev.Write(a.buf); err != nil {
		a.sent = false
		return fmt.Errorf("io: light: APA102 write: %w", err)
	}
	a.last, a.sent = c, true
	return nil
}

func (a *apaDriver) close() error { return a.port.Close() }

// lights runs scenes and fades on a driver. Fades advance on a ticker in Run; with fade 0 a
// scene is written at once by SetScene.
type lights struct {
	drv     driver
	scenes  map[string][]float64
	screens map[string]string
	def     string
	fade    time.Duration
	step    time.Duration
	log     *slog.Logger

	wake chan struct{}

	mu       sync.Mutex
	scene    string    // target scene
	cur      []float64 // levels last written
	from, to []float64
	start    time.Time
	fading   bool
	failing  bool      // the last write failed (logged once per streak)
	scratch  []float64 // scratch levels of a fade step
}

func newLights(drv driver, cfg Light, step time.Duration, log *slog.Logger) (*lights, error) {
	scenes, err := cfg.scenes()
	if err != nil {
		return nil, fmt.Errorf("io.light.%w", err)
	}
	screens, err := cfg.screens(scenes)
	if err != nil {
		return nil, fmt.Errorf("io.light.%w", err)
	}
	l := &lights{drv: drv, scenes: scenes, screens: screens, def: cfg.Default, fade: cfg.Fade, step: step,
		log: log, wake: make(chan struct{}, 1)}
	if _, ok := scenes[l.def]; !ok {
		return nil, fmt.Errorf("io.light.default: unknown scene %q (have %s)", l.def, sceneNames(scenes))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.jump(l.def); err != nil {
		return nil, err
	}
	return l, nil
}

// jump writes scene at once, ending any fade; l.mu is held.
func (l *lights) jump(scene string) error {
	l.fading = false
	l.scene = scene
	to := l.scenes[scene]
	if err := l.drv.write(to); err != nil {
		return err
	}
	l.cur = append(l.cur[:0], to...)
	return nil
}

// setScene starts a fade to scene (or switches at once when fade is 0).
func (l *lights) setScene(scene string) error {
	to, ok := l.scenes[scene]
	if !ok {
		return fmt.Errorf("io: set scene %q: %w (have %s)", scene, ErrUnknownScene, sceneNames(l.scenes))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fade <= 0 {
		return l.jump(scene)
	}
	l.scene = scene
	l.from = append(l.from[:0], l.cur...)
	l.to = append(l.to[:0], to...)
	l.start = time.Now()
	l.fading = true
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return nil
}

// current is the target scene.
func (l *lights) current() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.scene
}

// halt switches to the default scene at once.
func (l *lights) halt() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.jump(l.def)
}

// run advances fades until ctx ends.
func (l *lights) run(ctx context.Context) {
	t := time.NewTicker(l.step)
	defer t.Stop()
	for {
		l.mu.Lock()
		fading := l.fading
		l.mu.Unlock()
		var tc <-chan time.Time
		if fading {
			tc = t.C
		}
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
			t.Reset(l.step)
		case now := <-tc:
			l.advance(now)
		}
	}
}

// advance writes the fade's levels at now: an ease-in-out curve from the levels when the
// fade began to the target scene's.
func (l *lights) advance(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.fading {
		return
	}
	p := min(max(float64(now.Sub(l.start))/float64(l.fade), 0), 1)
	e := p * p * (3 - 2*p) // smoothstep
	l.scratch = append(l.scratch[:0], l.to...)
	lv := l.scratch
	for i := range lv {
		lv[i] = l.from[i] + (l.to[i]-l.from[i])*e
	}
	if p >= 1 {
		copy(lv, l.to) // exact end levels
	}
	if err := l.drv.write(lv); err != nil { // the fade keeps ticking: it retries until the bus answers
		if !l.failing {
			l.log.Warn("io: light write failed", "err", err)
		}
		l.failing = true
		return
	}
	if l.failing {
		l.log.Info("io: light write works again")
	}
	l.failing = false
	l.cur = append(l.cur[:0], lv...)
	if p >= 1 {
		l.fading = false
	}
}
