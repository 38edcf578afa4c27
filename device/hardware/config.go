package hardware

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fitmirror/fitmirror/display"
)

// Config is the io: section of the agent configuration (cmd/internal/config tags). Empty pin
// and bus names mean "not fitted"; with nothing fitted Open does not touch the host at all.
type Config struct {
	PIR             string  `yaml:"pir" help:"GPIO of a PIR (HC-SR501) or radar (LD2410 OUT) sensor, e.g. GPIO17; a wake hint for the logs, it never opens a session (the camera's motion gate sets the frame rate); empty = none"`
	PIRActive       string  `yaml:"pir_active" help:"level the presence sensor drives while it sees someone" enum:"high,low"`
	Buttons         Buttons `yaml:"buttons"`
	CameraLED       string  `yaml:"camera_led" help:"GPIO of the camera-active LED, lit whenever frames are analysed for a session, e.g. GPIO22; empty = none"`
	CameraLEDActive string  `yaml:"camera_led_active" help:"level that lights the camera-active LED" enum:"high,low"`
	Light           Light   `yaml:"light"`
}

// Buttons are momentary push buttons on the mirror frame.
type Buttons struct {
	Capture     string        `yaml:"capture" help:"GPIO of the capture button (press: take a photo; double press: compare the last two), e.g. GPIO27; empty = none"`
	Compare     string        `yaml:"compare" help:"GPIO of the compare button, e.g. GPIO23; empty = none"`
	Staff       string        `yaml:"staff" help:"GPIO of the call-staff button (raises a staff.called event), e.g. GPIO24; empty = none"`
	Active      string        `yaml:"active" help:"low = buttons switch to GND and the internal pull-up is enabled; high = buttons switch to 3.3 V with the pull-down" enum:"low,high"`
	Debounce    time.Duration `yaml:"debounce" help:"a button level must hold this long to count (contact bounce is shorter)" range:"1ms,200ms"`
	LongPress   time.Duration `yaml:"long_press" help:"holding a button this long is a long press" range:"300ms,10s"`
	DoublePress time.Duration `yaml:"double_press" help:"a second press of the capture button within this time is a double press (compare); 0 = off, presses act at once" range:"0s,1s"`
}

// Light is the lighting around the glass.
type Light struct {
	Driver   string        `yaml:"driver" help:"pca9685 = PWM channels over I2C driving MOSFETs; apa102 = an addressable strip over SPI; none = no lights" enum:"none,pca9685,apa102"`
	I2CBus   string        `yaml:"i2c_bus" help:"I2C bus of the PCA9685: a number (1 = /dev/i2c-1) or name; empty = the first bus"`
	I2CAddr  int           `yaml:"i2c_addr" help:"I2C address of the PCA9685 (0x40 with no address jumpers)" range:"0x03,0x77"`
	PWMHz    int           `yaml:"pwm_hz" help:"PWM frequency of the PCA9685; higher is gentler on the camera (less rolling-shutter banding), the chip tops out near 1.5 kHz" range:"24,1526"`
	Channels []string      `yaml:"channels" help:"PCA9685 outputs in use, 0..15, one per MOSFET (e.g. 0,1 for warm and cool white)"`
	SPIPort  string        `yaml:"spi_port" help:"SPI port of the APA102 strip, e.g. /dev/spidev0.0 or SPI0.0; empty = the first port"`
	SPIHz    int           `yaml:"spi_hz" help:"SPI clock of the APA102 strip (lower it for long strips or long wires)" range:"100000,20000000"`
	LEDs     int           `yaml:"leds" help:"number of LEDs on the APA102 strip" range:"1,1000"`
	Scenes   []string      `yaml:"scenes" help:"custom scenes or overrides, name=level in percent, one level for all channels or one per channel separated by / (pca9685: per channel; apa102: red/green/blue), e.g. welcome=100 or evening=60/40/20"`
	Default  string        `yaml:"default" help:"scene at start and the safe state on halt and shutdown (daylight keeps a lit mirror usable if the agent stops)"`
	Fade     time.Duration `yaml:"fade" help:"how long a scene change fades; 0 = switch at once" range:"0s,10s"`
	Screens  []string      `yaml:"screens" help:"scene per screen, screen=scene (screens: idle, welcome, countdown, review, qr, bound, compare, goodbye, error); screens not listed keep the current scene"`
}

// DefaultConfig is the embedded default: nothing fitted, sensible timings and scenes for when
// pins are set.
var DefaultConfig = Config{
	PIRActive:       "high",
	CameraLEDActive: "high",
	Buttons: Buttons{
		Active:      "low",
		Debounce:    30 * time.Millisecond,
		LongPress:   time.Second,
		DoublePress: 400 * time.Millisecond,
	},
	Light: Light{
		Driver:   "none",
		I2CAddr:  0x40,
		PWMHz:    1000,
		Channels: []string{"0"},
		SPIHz:    4_000_000,
		LEDs:     60,
		Default:  "daylight",
		Fade:     800 * time.Millisecond,
		Screens:  []string{"idle=evening", "welcome=daylight", "goodbye=evening"},
	},
}

// Configured reports whether any part is fitted (and Open needs the host's GPIO/I2C/SPI).
func (c *Config) Configured() bool {
	return c.PIR != "" || c.CameraLED != "" || c.Buttons.Capture != "" || c.Buttons.Compare != "" ||
		c.Buttons.Staff != "" || c.Light.Driver != "none" && c.Light.Driver != ""
}

// Validate checks what the tags cannot: channel numbers, scene syntax, the default scene, the
// screen mapping, and that no pin is used twice. Errors name the key below io.
func (c *Config) Validate() error {
	seen := map[string]string{}
	for _, p := range c.pins() {
		if prev, ok := seen[p.name]; ok {
			return fmt.Errorf("%s: pin %s is already used by %s", p.key, p.name, prev)
		}
		seen[p.name] = p.key
		if bus := c.Light.busPins()[p.name]; bus != "" {
			return fmt.Errorf("%s: pin %s is %s, used by the %s lights", p.key, p.name, bus, c.Light.Driver)
		}
	}
	if err := c.Light.Validate(); err != nil {
		return fmt.Errorf("light.%w", err)
	}
	return nil
}

// Validate checks the light section; errors start with the key below io.light.
func (l *Light) Validate() error {
	if _, err := l.channels(); err != nil {
		return err
	}
	scenes, err := l.scenes()
	if err != nil {
		return err
	}
	if _, ok := scenes[l.Default]; !ok {
		return fmt.Errorf("default: unknown scene %q (have %s)", l.Default, sceneNames(scenes))
	}
	if _, err := l.screens(scenes); err != nil {
		return err
	}
	return nil
}

type pinUse struct{ key, name string }

// busPins are the Raspberry Pi header pins the light's bus takes (I²C1 or SPI0).
func (l *Light) busPins() map[string]string {
	switch l.Driver {
	case "pca9685":
		return map[string]string{"GPIO2": "I2C1 SDA", "GPIO3": "I2C1 SCL"}
	case "apa102":
		return map[string]string{"GPIO10": "SPI0 MOSI", "GPIO11": "SPI0 SCLK"}
	}
	return nil
}

// pins lists the configured GPIOs with their keys, in a fixed order.
func (c *Config) pins() []pinUse {
	var ps []pinUse
	for _, p := range []pinUse{
		{"pir", c.PIR},
		{"buttons.capture", c.Buttons.Capture},
		{"buttons.compare", c.Buttons.Compare},
		{"buttons.staff", c.Buttons.Staff},
		{"camera_led", c.CameraLED},
	} {
		if p.name != "" {
			ps = append(ps, p)
		}
	}
	return ps
}

// channels parses Channels.
func (l *Light) channels() ([]int, error) {
	if l.Driver != "pca9685" {
		return nil, nil
	}
	if len(l.Channels) == 0 {
		return nil, fmt.Errorf("channels: list at least one PCA9685 output (0..15)")
	}
	var chs []int
	for _, s := range l.Channels {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 0 || n > 15 {
			return nil, fmt.Errorf("channels: %q is not a PCA9685 output (0..15)", s)
		}
		if slices.Contains(chs, n) {
			return nil, fmt.Errorf("channels: output %d listed twice", n)
		}
		chs = append(chs, n)
	}
	return chs, nil
}

// width is the number of levels a scene holds for the driver.
func (l *Light) width() int {
	switch l.Driver {
	case "pca9685":
		return max(len(l.Channels), 1)
	case "apa102":
		return 3
	}
	return 1
}

var sceneNameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// Built-in scenes, as perceived brightness in percent. One level applies to every channel.
// On an APA102 strip (red/green/blue) evening is a warm white.
var builtinScenes = map[string][]float64{
	"daylight": {100},
	"evening":  {35},
	"off":      {0},
}

var builtinRGB = map[string][]float64{
	"evening": {60, 42, 22},
}

// scenes returns the built-in scenes overlaid with the custom ones, each expanded to width
// levels in 0..1.
func (l *Light) scenes() (map[string][]float64, error) {
	w := l.width()
	out := map[string][]float64{}
	for name, lv := range builtinScenes {
		if l.Driver == "apa102" && builtinRGB[name] != nil {
			lv = builtinRGB[name]
		}
		out[name] = expand(lv, w)
	}
	for _, s := range l.Scenes {
		name, levels, err := parseScene(s, w)
		if err != nil {
			return nil, fmt.Errorf("scenes: %w", err)
		}
		out[name] = levels
	}
	return out, nil
}

func expand(percent []float64, w int) []float64 {
	lv := make([]float64, w)
	for i := range lv {
		p := percent[0]
		if len(percent) == w {
			p = percent[i]
		}
		lv[i] = p / 100
	}
	return lv
}

// parseScene parses "name=level[/level…]".
func parseScene(s string, w int) (string, []float64, error) {
	name, spec, ok := strings.Cut(s, "=")
	name, spec = strings.TrimSpace(name), strings.TrimSpace(spec)
	if !ok || name == "" || spec == "" {
		return "", nil, fmt.Errorf("%q: want name=level, e.g. welcome=100 or evening=60/40/20", s)
	}
	if !sceneNameRE.MatchString(name) {
		return "", nil, fmt.Errorf("%q: scene name must be lower-case letters, digits, - or _ (up to 32)", s)
	}
	parts := strings.Split(spec, "/")
	if len(parts) != 1 && len(parts) != w {
		return "", nil, fmt.Errorf("%q: %d levels, want 1 or %d (one per channel)", s, len(parts), w)
	}
	var pc []float64
	for _, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(p), "%"), 64)
		if err != nil || v < 0 || v > 100 {
			return "", nil, fmt.Errorf("%q: level %q must be a percentage 0..100", s, p)
		}
		pc = append(pc, v)
	}
	return name, expand(pc, w), nil
}

var screenNames = []string{display.SceneIdle, display.SceneWelcome, display.SceneCountdown, display.SceneReview,
	display.SceneQR, display.SceneBound, display.SceneCompare, display.SceneGoodbye, display.SceneError}

// screens parses Screens against the known scenes.
func (l *Light) screens(scenes map[string][]float64) (map[string]string, error) {
	out := map[string]string{}
	for _, s := range l.Screens {
		screen, scene, ok := strings.Cut(s, "=")
		screen, scene = strings.TrimSpace(screen), strings.TrimSpace(scene)
		if !ok {
			return nil, fmt.Errorf("screens: %q: want screen=scene, e.g. welcome=daylight", s)
		}
		if !slices.Contains(screenNames, screen) {
			return nil, fmt.Errorf("screens: %q: unknown screen %q (have %s)", s, screen, strings.Join(screenNames, ", "))
		}
		if _, ok := scenes[scene]; !ok {
			return nil, fmt.Errorf("screens: %q: unknown scene %q (have %s)", s, scene, sceneNames(scenes))
		}
		out[screen] = scene
	}
	return out, nil
}

func sceneNames(scenes map[string][]float64) string {
	names := make([]string, 0, len(scenes))
	for n := range scenes {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
