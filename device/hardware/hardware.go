package hardware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"

	"github.com/fitmirror/fitmirror/display"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
)

// Options wires an IO. All fields are optional.
type Options struct {
	// Registry finds pins and buses; nil means [Host], called only when something is
	// configured.
	Registry *Registry
	// OnWake is called when the PIR or radar starts seeing someone: a hint (the agent logs
	// it). It never opens a session by itself and does not change the camera's frame rate.
	OnWake func(at time.Time)
	// OnButton is called for each button gesture; see [ButtonEvent.Action].
	OnButton func(ButtonEvent)
	// Logger; nil is slog.Default().
	Logger *slog.Logger
	// FadeStep is the interval between fade steps; 0 is 20 ms (50 steps a second).
	FadeStep time.Duration
}

// DefaultFadeStep is the fade step when Options.FadeStep is 0.
const DefaultFadeStep = 20 * time.Millisecond

// IO is the mirror's own hardware: a presence sensor, buttons, the camera-active LED and the
// lights. Callbacks run on the input goroutines started by Run: keep them short.
type IO struct {
	cfg    Config
	reg    Registry
	buses  *buses
	log    *slog.Logger
	wake   func(time.Time)
	button func(ButtonEvent)

	pir     gpio.PinIO
	buttons []*buttonIn
	led     gpio.PinIO
	lights  *lights // nil without lights

	mu     sync.Mutex
	motion bool
	closed bool
}

type buttonIn struct {
	key string
	pin gpio.PinIO
	mu  sync.Mutex
	g   *gestures
}

var _ display.Renderer = (*IO)(nil)

// Open fills cfg's zero values with DefaultConfig's (without changing the caller's copy),
// validates it, looks up every configured pin and bus, sets inputs up with their pulls,
// switches the camera LED off and the lights to the default scene. With nothing configured it
// returns an IO that does nothing and does not touch the host. Errors name the config key
// and the pin ([PinError], [BusError]).
func Open(cfg Config, opts Options) (*IO, error) {
	cfg = clone(cfg)
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("io.%w", err)
	}
	d := &IO{cfg: cfg, log: opts.Logger, wake: opts.OnWake, button: opts.OnButton}
	if d.log == nil {
		d.log = slog.Default()
	}
	if !cfg.Configured() {
		return d, nil
	}
	if opts.Registry != nil {
		d.reg = *opts.Registry
	} else {
		reg, err := Host()
		if err != nil {
			return nil, err
		}
		d.reg = reg
	}
	d.buses = &buses{reg: d.reg}
	if err := d.open(opts); err != nil {
		return nil, errors.Join(err, d.release())
	}
	return d, nil
}

// clone copies c (the caller's config is never changed) and fills zero values with
// DefaultConfig's, except where zero means something: DoublePress and Fade (off), Screens
// (no scene per screen) and Scenes.
func clone(c Config) Config {
	d := DefaultConfig
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	defInt := func(n *int, v int) {
		if *n == 0 {
			*n = v
		}
	}
	def(&c.PIRActive, d.PIRActive)
	def(&c.CameraLEDActive, d.CameraLEDActive)
	def(&c.Buttons.Active, d.Buttons.Active)
	if c.Buttons.Debounce == 0 {
		c.Buttons.Debounce = d.Buttons.Debounce
	}
	if c.Buttons.LongPress == 0 {
		c.Buttons.LongPress = d.Buttons.LongPress
	}
	def(&c.Light.Driver, d.Light.Driver)
	def(&c.Light.Default, d.Light.Default)
	defInt(&c.Light.I2CAddr, d.Light.I2CAddr)
	defInt(&c.Light.PWMHz, d.Light.PWMHz)
	defInt(&c.Light.SPIHz, d.Light.SPIHz)
	defInt(&c.Light.LEDs, d.Light.LEDs)
	if len(c.Light.Channels) == 0 {
		c.Light.Channels = d.Light.Channels
	}
	c.Light.Channels = slices.Clone(c.Light.Channels)
	c.Light.Scenes = slices.Clone(c.Light.Scenes)
	c.Light.Screens = slices.Clone(c.Light.Screens)
	return c
}

func level(active string) gpio.Level { return active != "low" }

// pullFor is the pull that holds an input at its inactive level.
func pullFor(active gpio.Level) gpio.Pull {
	if active == gpio.Low {
		return gpio.PullUp
	}
	return gpio.PullDown
}

func (d *IO) open(opts Options) error {
	c := &d.cfg
	if c.PIR != "" {
		p, err := d.input("pir", c.PIR, level(c.PIRActive))
		if err != nil {
			return err
		}
		d.pir = p
	}
	active := level(c.Buttons.Active)
	for _, b := range []struct{ name, pin string }{
		{ButtonCapture, c.Buttons.Capture}, {ButtonCompare, c.Buttons.Compare}, {ButtonStaff, c.Buttons.Staff},
	} {
		if b.pin == "" {
			continue
		}
		key := "buttons." + b.name
		p, err := d.input(key, b.pin, active)
		if err != nil {
			return err
		}
		double := time.Duration(0)
		if b.name == ButtonCapture { // only capture has a double-press action; the others act at once
			double = c.Buttons.DoublePress
		}
		g := newGestures(b.name, active, c.Buttons.Debounce, c.Buttons.LongPress, double)
		g.raw = p.Read()
		g.pressed = g.raw == active
		g.pressedAt, g.longDone = time.Now(), true // held at start: no gesture until released
		d.buttons = append(d.buttons, &buttonIn{key: key, pin: p, g: g})
	}
	if c.CameraLED != "" {
		p, err := d.reg.pin("camera_led", c.CameraLED)
		if err != nil {
			return err
		}
		d.led = p
		if err := p.Out(!level(c.CameraLEDActive)); err != nil {
			return fmt.Errorf("io.camera_led: %s: switch off: %w", c.CameraLED, err)
		}
	}
	if c.Light.Driver == "none" {
		return nil
	}
	drv, err := d.openDriver()
	if err != nil {
		return err
	}
	step := opts.FadeStep
	if step <= 0 {
		step = DefaultFadeStep
	}
	l, err := newLights(drv, c.Light, step, d.log)
	if err != nil {
		return errors.Join(err, drv.close())
	}
	d.lights = l
	return nil
}

func (d *IO) input(key, name string, active gpio.Level) (gpio.PinIO, error) {
	p, err := d.reg.pin(key, name)
	if err != nil {
		return nil, err
	}
	if err := p.In(pullFor(active), gpio.BothEdges); err != nil {
		return nil, fmt.Errorf("io.%s: %s: set up as input with edge detection: %w", key, name, err)
	}
	return p, nil
}

func (d *IO) openDriver() (driver, error) {
	l := &d.cfg.Light
	switch l.Driver {
	case "pca9685":
		chans, _ := l.channels() // validated
		bus, err := d.buses.openI2C(l.I2CBus)
		if err != nil {
			return nil, err
		}
		drv, err := openPCA9685(bus, uint16(l.I2CAddr), l.PWMHz, chans)
		if err != nil {
			return nil, errors.Join(err, bus.Close())
		}
		return drv, nil
	case "apa102":
		if d.reg.SPI == nil {
			return nil, &BusError{Key: "light.spi_port", Name: l.SPIPort, Err: errors.New("no SPI on this host")}
		}
		port, err := d.reg.SPI(l.SPIPort)
		if err != nil {
			return nil, &BusError{Key: "light.spi_port", Name: l.SPIPort, Err: err}
		}
		drv, err := openAPA102(port, l.SPIHz, l.LEDs)
		if err != nil {
			return nil, errors.Join(err, port.Close())
		}
		return drv, nil
	}
	return nil, fmt.Errorf("io.light.driver: unknown driver %q", l.Driver)
}

// Run watches the inputs and drives light fades until ctx ends (inputs notice within 250 ms),
// then puts the outputs in their safe state and returns Halt's error (nil when the outputs
// answered). Call it once.
func (d *IO) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if d.pir != nil {
		wg.Go(func() {
			active := level(d.cfg.PIRActive)
			watch(ctx, d.pir, func(l gpio.Level, now time.Time) {
				on := l == active
				d.mu.Lock()
				rising := on && !d.motion
				d.motion = on
				d.mu.Unlock()
				if rising && d.wake != nil {
					d.wake(now)
				}
			}, func() time.Time { return time.Time{} })
		})
	}
	for _, b := range d.buttons {
		wg.Go(func() {
			watch(ctx, b.pin, func(l gpio.Level, now time.Time) {
				b.mu.Lock()
				evs := b.g.sample(l, now)
				b.mu.Unlock()
				for _, ev := range evs {
					d.log.Debug("io: button", "button", ev.Button, "gesture", ev.Gesture.String())
					if d.button != nil {
						d.button(ev)
					}
				}
			}, func() time.Time {
				b.mu.Lock()
				defer b.mu.Unlock()
				return b.g.next()
			})
		})
	}
	if d.lights != nil {
		wg.Go(func() { d.lights.run(ctx) })
	}
	wg.Wait()
	return d.Halt()
}

// Motion reports whether the presence sensor sees someone now (as of its last sample).
func (d *IO) Motion() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.motion
}

// SetCameraActive lights the camera-active LED (or switches it off). Call it with true while
// frames are analysed for a session. Without an LED it does nothing.
func (d *IO) SetCameraActive(on bool) error {
	if d.led == nil {
		return nil
	}
	l := level(d.cfg.CameraLEDActive)
	if !on {
		l = !l
	}
	if err := d.led.Out(l); err != nil {
		return fmt.Errorf("io: camera LED on %s: %w", d.cfg.CameraLED, err)
	}
	return nil
}

// SetScene fades the lights to a scene (the set-light fleet command); the fade advances in
// Run (with io.light.fade 0 the scene is written at once). An unknown name wraps
// [ErrUnknownScene]; without lights every name is unknown.
func (d *IO) SetScene(name string) error {
	if d.lights == nil {
		return fmt.Errorf("io: set scene %q: %w (no lights configured: io.light.driver is none)", name, ErrUnknownScene)
	}
	return d.lights.setScene(name)
}

// Scene returns the scene the lights show or fade to ("" without lights).
func (d *IO) Scene() string {
	if d.lights == nil {
		return ""
	}
	return d.lights.current()
}

// Scenes lists the scene names, sorted ("" without lights).
func (d *IO) Scenes() []string {
	if d.lights == nil {
		return nil
	}
	names := make([]string, 0, len(d.lights.scenes))
	for n := range d.lights.scenes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Show follows the session's screens with the lights: a screen listed in io.light.screens
// fades to its scene (e.g. brighten on welcome); other screens keep the current scene. It
// makes IO a display.Renderer to wire next to the kiosk; it never blocks on the bus for more
// than one write.
func (d *IO) Show(s display.Screen) {
	if d.lights == nil {
		return
	}
	scene, ok := d.lights.screens[s.Scene]
	if !ok || scene == d.lights.current() {
		return
	}
	if err := d.lights.setScene(scene); err != nil {
		d.log.Warn("io: light for screen", "screen", s.Scene, "scene", scene, "err", err)
	}
}

// OpenI2C opens an I²C bus by name ("" = the first bus, "1" = /dev/i2c-1), shared with the
// lights' PCA9685 when it is the same bus: the status OLED (display/status) uses this so both
// drive one bus handle. Close the returned bus when done; the bus itself closes with its last
// user.
func (d *IO) OpenI2C(name string) (i2c.BusCloser, error) {
	d.mu.Lock()
	b := d.buses
	if b == nil { // nothing configured: load the host drivers now
		reg, err := Host()
		if err != nil {
			d.mu.Unlock()
			return nil, err
		}
		b = &buses{reg: reg}
		d.buses = b
	}
	d.mu.Unlock()
	return b.openI2C(name)
}

// Halt puts the outputs in their safe state: the camera-active LED off and the lights at the
// default scene at once (no fade). The IO stays usable. Run calls it when it ends.
func (d *IO) Halt() error {
	var errs []error
	if err := d.SetCameraActive(false); err != nil {
		errs = append(errs, fmt.Errorf("io: halt: %w", err))
	}
	if d.lights != nil {
		if err := d.lights.halt(); err != nil {
			errs = append(errs, fmt.Errorf("io: halt: lights: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Close halts the outputs (see Halt) and releases pins and buses. Call it after Run has
// returned. A second Close does nothing.
func (d *IO) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	return errors.Join(d.Halt(), d.release())
}

// release stops edge detection on the inputs and closes the light's bus or port.
func (d *IO) release() error {
	var errs []error
	ins := []gpio.PinIO{}
	if d.pir != nil {
		ins = append(ins, d.pir)
	}
	for _, b := range d.buttons {
		ins = append(ins, b.pin)
	}
	for _, p := range ins {
		if err := p.In(gpio.PullNoChange, gpio.NoEdge); err != nil {
			errs = append(errs, fmt.Errorf("io: release %s: %w", p.Name(), err))
		}
	}
	if d.lights != nil {
		if err := d.lights.drv.close(); err != nil {
			errs = append(errs, fmt.Errorf("io: close lights: %w", err))
		}
	}
	return errors.Join(errs...)
}

// ButtonsTo returns the OnButton that feeds the session engine's inputs: capture asks for a
// photo, compare compares, and the staff button is recorded as staff.called (the fleet sees
// it) through events. A press waits for the engine until ctx ends.
func ButtonsTo(ctx context.Context, in *session.Inputs, events func(session.Event), log *slog.Logger) func(ButtonEvent) {
	return func(ev ButtonEvent) {
		switch ev.Action() {
		case ActionCapture:
			in.Trigger(ctx, "button")
		case ActionCompare:
			in.Compare(ctx)
		case ActionStaff:
			log.Info("staff called", "button", ev.Button, "gesture", ev.Gesture.String())
			events(session.Event{Type: wire.EventStaffCalled, At: ev.At,
				Data: wire.StaffCalled{Button: ev.Button, Gesture: ev.Gesture.String()}})
		}
	}
}

// FollowSession keeps the camera-active LED on while a session is open: give it to the
// recorder as a follower.
func (d *IO) FollowSession(ev session.Event) {
	switch ev.Type {
	case wire.EventSessionOpened, wire.EventSessionClosed:
		if err := d.SetCameraActive(ev.Type == wire.EventSessionOpened); err != nil {
			d.log.Warn("camera-active LED", "err", err)
		}
	}
}
