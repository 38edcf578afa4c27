package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// sample covers every supported kind, nested sections and the tags.
type sample struct {
	Device   deviceSection   `yaml:"device"`
	StateDir string          `yaml:"state_dir" help:"photos and database"`
	Debug    bool            `yaml:"debug" help:"verbose logging"`
	Camera   cameraSection   `yaml:"camera"`
	Presence presenceSection `yaml:"presence"`
	Cloud    cloudSection    `yaml:"cloud"`

	Internal string // no yaml tag: not config
	Ignored  string `yaml:"-"`
	hidden   string `yaml:"hidden"` // unexported: not config
}

type deviceSection struct {
	ID string `yaml:"id" help:"device ID, also the MQTT username"`
}

type cameraSection struct {
	Source  string   `yaml:"source" help:"auto, a device index, a file or a URL"`
	FPS     int      `yaml:"fps" help:"frames per second" range:"1,60"`
	Buffers int64    `yaml:"buffers" range:"1,"`
	Scale   float64  `yaml:"scale" help:"resize factor" range:",100"`
	Tags    []string `yaml:"tags" help:"labels | shown in the UI"`
	Modes   []string `yaml:"modes" enum:"day,night"`
}

type presenceSection struct {
	EnterDwell time.Duration `yaml:"enter_dwell" help:"time standing still before a session starts" range:"0s,30s"`
	ExitGrace  time.Duration `yaml:"exit_grace" range:"0s,"`
}

type cloudSection struct {
	Provider string       `yaml:"provider" enum:"local,hub"`
	HubURL   string       `yaml:"hub_url"`
	Token    string       `yaml:"token"`
	Local    localSection `yaml:"local"`
}

type localSection struct {
	PublicURL string `yaml:"public_url"`
}

var errHubURL = errors.New("cloud.hub_url is required when cloud.provider is hub")

func (s *sample) Validate() error {
	if s.Cloud.Provider == "hub" && s.Cloud.HubURL == "" {
		return errHubURL
	}
	return nil
}

func (l localSection) Validate() error {
	if l.PublicURL != "" && !strings.HasPrefix(l.PublicURL, "http") {
		return errors.New("public_url must be an http(s) URL")
	}
	return nil
}

var _ Validator = (*sample)(nil)

func defaults() sample {
	return sample{
		StateDir: "./state",
		Camera:   cameraSection{Source: "auto", FPS: 15, Buffers: 4, Scale: 1, Tags: []string{"a", "b"}},
		Presence: presenceSection{EnterDwell: 2 * time.Second, ExitGrace: 1500 * time.Millisecond},
		Cloud:    cloudSection{Provider: "local"},
		Internal: "kept",
	}
}

func writeFile(t testing.TB, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name string
		file string // content of config.yaml; "" means no file
		sets []string
		edit func(*sample) // applied to defaults() to get the result
	}{
		{name: "nothing"},
		{name: "empty file", file: "\n"},
		{name: "null document", file: "null\n"},
		{name: "comments only", file: "# nothing here\n"},
		{name: "null section", file: "camera:\npresence: ~\n"},
		{
			name: "defaults survive omitted keys",
			file: "camera:\n  fps: 30\n",
			edit: func(s *sample) { s.Camera.FPS = 30 },
		},
		{
			name: "every kind",
			file: `device:
  id: mirror-1
state_dir: /var/lib/mirror-agent
debug: true
camera:
  source: /dev/video0
  fps: 0x1e
  buffers: 8
  scale: 0.5
  tags: [x, "y,z"]
  modes:
    - night
presence:
  enter_dwell: 5s
  exit_grace: 1m30s
cloud:
  provider: hub
  hub_url: https://hub.example
  token: "123"
  local:
    public_url: http://10.0.0.2:8080
`,
			edit: func(s *sample) {
				s.Device.ID = "mirror-1"
				s.StateDir = "/var/lib/mirror-agent"
				s.Debug = true
				s.Camera = cameraSection{Source: "/dev/video0", FPS: 30, Buffers: 8, Scale: 0.5,
					Tags: []string{"x", "y,z"}, Modes: []string{"night"}}
				s.Presence = presenceSection{EnterDwell: 5 * time.Second, ExitGrace: 90 * time.Second}
				s.Cloud = cloudSection{Provider: "hub", HubURL: "https://hub.example", Token: "123",
					Local: localSection{PublicURL: "http://10.0.0.2:8080"}}
			},
		},
		{
			name: "null string and list clear them",
			file: "state_dir:\ncamera:\n  tags: ~\n",
			edit: func(s *sample) { s.StateDir, s.Camera.Tags = "", []string{} },
		},
		{
			name: "aliases",
			file: "camera:\n  source: &src rtsp://cam\n  tags: [*src]\n",
			edit: func(s *sample) { s.Camera.Source, s.Camera.Tags = "rtsp://cam", []string{"rtsp://cam"} },
		},
		{
			name: "zero duration without unit",
			file: "presence:\n  exit_grace: 0\n",
			edit: func(s *sample) { s.Presence.ExitGrace = 0 },
		},
		{
			name: "set wins over file",
			file: "camera:\n  fps: 30\n  source: file.mp4\n",
			sets: []string{"camera.fps=25", "debug=yes"},
			edit: func(s *sample) { s.Camera.FPS, s.Camera.Source, s.Debug = 25, "file.mp4", true },
		},
		{
			name: "later set wins",
			sets: []string{"camera.fps=25", "camera.fps=20"},
			edit: func(s *sample) { s.Camera.FPS = 20 },
		},
		{
			name: "set list",
			sets: []string{"camera.tags= x, y ,,", "camera.modes=[day, night]"},
			edit: func(s *sample) { s.Camera.Tags, s.Camera.Modes = []string{"x", "y"}, []string{"day", "night"} },
		},
		{
			name: "set empty list",
			sets: []string{"camera.tags="},
			edit: func(s *sample) { s.Camera.Tags = []string{} },
		},
		{
			name: "set strings verbatim unless quoted",
			sets: []string{"cloud.token=*se=cr#et", "device.id='a: b'", "state_dir=", " camera.source = x"},
			edit: func(s *sample) {
				s.Cloud.Token, s.Device.ID, s.StateDir, s.Camera.Source = "*se=cr#et", "a: b", "", " x"
			},
		},
		{
			name: "set section",
			sets: []string{"presence={enter_dwell: 3s, exit_grace: 1s}"},
			edit: func(s *sample) { s.Presence = presenceSection{EnterDwell: 3 * time.Second, ExitGrace: time.Second} },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var file string
			if tt.file != "" {
				file = writeFile(t, tt.file)
			}
			got, want := defaults(), defaults()
			if tt.edit != nil {
				tt.edit(&want)
			}
			if err := Load(&got, file, tt.sets); err != nil {
				t.Fatalf("Load(%q, %q) = %v, want nil", tt.file, tt.sets, err)
			}
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(sample{})); diff != "" {
				t.Errorf("Load(%q, %q) mismatch (-want +got):\n%s", tt.file, tt.sets, diff)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		sets []string
		want string
	}{
		{"unknown key", "presence:\n  enter_dwel: 5s\n", nil,
			`config.yaml:2: unknown key "presence.enter_dwel" (did you mean "presence.enter_dwell"?)`},
		{"unknown section", "camera: {}\npresense:\n  enter_dwell: 5s\n", nil,
			`config.yaml:2: unknown key "presense" (did you mean "presence"?)`},
		{"unknown key case", "Camera:\n  fps: 5\n", nil,
			`config.yaml:1: unknown key "Camera" (did you mean "camera"?)`},
		{"unknown key far", "brightness: 5\n", nil, `config.yaml:1: unknown key "brightness"`},
		{"unknown key near", "colour: red\n", nil, `config.yaml:1: unknown key "colour" (did you mean "cloud"?)`},
		{"unknown set", "", []string{"presence.enter_dwel=5s"},
			`--set presence.enter_dwel: unknown key (did you mean "presence.enter_dwell"?)`},
		{"set below a leaf", "", []string{"camera.fps.max=5"},
			`--set camera.fps.max: unknown key`},
		{"not a number", "camera:\n  source: x\n  fps: abc\n", nil, `config.yaml:3: camera.fps: "abc" is not a number`},
		{"not a whole number", "camera:\n  fps: 2.5\n", nil, `config.yaml:2: camera.fps: "2.5" is not a whole number`},
		{"int out of range", "camera:\n  buffers: 99999999999999999999\n", nil,
			`config.yaml:2: camera.buffers: "99999999999999999999" is out of range`},
		{"float not a number", "camera:\n  scale: .nan\n", nil, `config.yaml:2: camera.scale: ".nan" is not a number`},
		{"set not a number", "", []string{"camera.fps=abc"}, `--set camera.fps: "abc" is not a number`},
		{"set not YAML", "", []string{"camera.fps=@x"}, `--set camera.fps: "@x" is not a number`},
		{"bool", "debug: maybe\n", nil, `config.yaml:1: debug: "maybe" is not true or false`},
		{"duration without unit", "presence:\n  enter_dwell: 5\n", nil,
			`config.yaml:2: presence.enter_dwell: "5" needs a unit, e.g. 5s`},
		{"set duration without unit", "", []string{"presence.enter_dwell=5"},
			`--set presence.enter_dwell: "5" needs a unit, e.g. 5s`},
		{"not a duration", "presence:\n  enter_dwell: soon\n", nil,
			`config.yaml:2: presence.enter_dwell: "soon" is not a duration, e.g. 1s or 250ms`},
		{"missing value", "camera:\n  fps:\n", nil, `config.yaml:2: camera.fps: missing value, want a whole number`},
		{"set missing value", "", []string{"camera.fps="}, `--set camera.fps: missing value, want a whole number`},
		{"range", "presence:\n  enter_dwell: 45s\n", nil, `presence.enter_dwell: must be between 0s and 30s (got 45s)`},
		{"range at least", "camera:\n  buffers: 0\n", nil, `camera.buffers: must be at least 1 (got 0)`},
		{"range at most", "camera:\n  scale: 100.5\n", nil, `camera.scale: must be at most 100 (got 100.5)`},
		{"range negative duration", "presence:\n  exit_grace: -1s\n", nil, `presence.exit_grace: must be at least 0s (got -1s)`},
		{"set range", "", []string{"presence.enter_dwell=1m"},
			`--set presence.enter_dwell: must be between 0s and 30s (got 1m)`},
		{"enum", "cloud:\n  provider: cloud\n", nil, `cloud.provider: must be one of local, hub (got "cloud")`},
		{"set enum", "", []string{"cloud.provider=cloud"}, `--set cloud.provider: must be one of local, hub (got "cloud")`},
		{"enum list", "camera:\n  modes: [day, dusk]\n", nil, `camera.modes: must be one of day, night (got "dusk")`},
		{"mapping for scalar", "camera:\n  fps:\n    max: 5\n", nil,
			`config.yaml:3: camera.fps: want a whole number, got a mapping`},
		{"list for string", "state_dir: [a, b]\n", nil, `config.yaml:1: state_dir: want a string, got a list`},
		{"scalar for mapping", "camera: usb\n", nil, `config.yaml:1: camera: want a mapping of keys, got "usb"`},
		{"scalar for list", "camera:\n  tags: a,b\n", nil, `config.yaml:2: camera.tags: want a list, got "a,b"`},
		{"mapping in list", "camera:\n  tags:\n    - a\n    - {b: c}\n", nil,
			`config.yaml:4: camera.tags[1]: want a string, got a mapping`},
		{"set mapping for scalar", "", []string{"camera.fps={a: 1}"}, `--set camera.fps: want a whole number, got a mapping`},
		{"set scalar for mapping", "", []string{"camera=usb"}, `--set camera: want a mapping of keys, got "usb"`},
		{"set bad flow list", "", []string{"camera.tags=[a"}, `--set camera.tags: "[a" is not valid YAML: line 1: did not find expected ',' or ']'`},
		{"top level list", "- a\n- b\n", nil, `config.yaml:1: want a mapping of keys at the top level, got a list`},
		{"top level scalar", "hello\n", nil, `config.yaml:1: want a mapping of keys at the top level, got "hello"`},
		{"key not a string", "camera:\n  [a]: 1\n", nil, `config.yaml:2: camera: want a key name, got a list`},
		{"duplicate key", "camera:\n  fps: 5\n  fps: 6\n", nil, `config.yaml:3: duplicate key "camera.fps"`},
		{"merge key", "base: &b {fps: 5}\ncamera:\n  <<: *b\n", nil, `config.yaml:1: unknown key "base"`},
		{"merge key only", "camera:\n  <<: {fps: 5}\n", nil, `config.yaml:2: camera: merge keys (<<) are not supported`},
		{"two documents", "debug: true\n---\ndebug: false\n", nil, `config.yaml:3: want one YAML document, found another`},
		// The line is yaml.v3's, which counts parser errors from 0.
		{"syntax error", "camera:\n  fps: [1\n", nil, `config.yaml: line 1: did not find expected ',' or ']'`},
		{"syntax error no line", "a: \x01\n", nil, `config.yaml: control characters are not allowed`},
		{"tab indentation", "camera:\n\tfps: 5\n", nil, `config.yaml: line 2: found character that cannot start any token`},
		{"set without =", "", []string{"foo"}, `--set "foo": want key=value`},
		{"set without key", "", []string{"=5"}, `--set "=5": want key=value`},
		{"validator", "", []string{"cloud.provider=hub"}, errHubURL.Error()},
		{"nested validator", "cloud:\n  local:\n    public_url: ftp://x\n", nil,
			`cloud.local: public_url must be an http(s) URL`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var file string
			if tt.file != "" {
				file = writeFile(t, tt.file)
			}
			got := defaults()
			err := Load(&got, file, tt.sets)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Load(%q, %q) = %v, want %v", tt.file, tt.sets, err, tt.want)
			}
			if diff := cmp.Diff(defaults(), got, cmp.AllowUnexported(sample{})); diff != "" {
				t.Errorf("Load(%q, %q) changed dst on error (-want +got):\n%s", tt.file, tt.sets, diff)
			}
		})
	}
}

func TestLoadValidatorError(t *testing.T) {
	cfg := defaults()
	err := Load(&cfg, writeFile(t, "cloud:\n  provider: hub\n"), nil)
	if !errors.Is(err, errHubURL) {
		t.Errorf("Load(provider: hub) = %v, want %v", err, errHubURL)
	}
}

func TestLoadUnreadable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.yaml")
	cfg := defaults()
	err := Load(&cfg, path, nil)
	want := "config: read " + path + ": no such file or directory"
	if err == nil || err.Error() != want {
		t.Errorf("Load(%q) = %v, want %v", path, err, want)
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(%q) = %v, want an error wrapping os.ErrNotExist", path, err)
	}
}

func TestBadTargets(t *testing.T) {
	var nilSample *sample
	n := 5
	tests := []struct {
		name string
		dst  any
		want string
	}{
		{"nil", nil, "config: Load: want a non-nil pointer to a struct, got nil"},
		{"nil pointer", nilSample, "config: Load: want a non-nil pointer to a struct, got nil *config.sample"},
		{"struct value", defaults(), "config: Load: want a non-nil pointer to a struct, got config.sample"},
		{"pointer to int", &n, "config: Load: want a non-nil pointer to a struct, got *int"},
		{"unsupported type", &struct {
			M map[string]int `yaml:"m"`
		}{}, "config: m: unsupported type map[string]int"},
		{"bad range tag", &struct {
			N int `yaml:"n" range:"1"`
		}{}, `config: n: bad range tag "1": want min,max`},
		{"range on string", &struct {
			S string `yaml:"s" range:"1,2"`
		}{}, `config: s: bad range tag "1,2": range tag on string, want a number or duration`},
		{"enum on int", &struct {
			N int `yaml:"n" enum:"1,2"`
		}{}, "config: n: enum tag on int, want a string"},
		{"dotted name", &struct {
			N int `yaml:"a.b"`
		}{}, `config: struct { N int "yaml:\"a.b\"" }.N: yaml name "a.b" must not contain a dot`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Load(tt.dst, "", nil)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Load(%T) = %v, want %v", tt.dst, err, tt.want)
			}
		})
	}
}

func TestSet(t *testing.T) {
	tests := []struct {
		key, value string
		edit       func(*sample)
		wantErr    string
	}{
		{key: "presence.enter_dwell", value: "250ms", edit: func(s *sample) { s.Presence.EnterDwell = 250 * time.Millisecond }},
		{key: "camera.scale", value: "1e-3", edit: func(s *sample) { s.Camera.Scale = 0.001 }},
		{key: "camera.fps", value: "61", wantErr: "camera.fps: must be between 1 and 60 (got 61)"},
		{key: "presence.enter_dwel", value: "1s", wantErr: `presence.enter_dwel: unknown key (did you mean "presence.enter_dwell"?)`},
		{key: "presence", value: "{enter_dwell: 31s}", wantErr: "presence.enter_dwell: must be between 0s and 30s (got 31s)"},
		// Set checks only the field's tags; the Validator runs in Load and Check.
		{key: "cloud.provider", value: "hub", edit: func(s *sample) { s.Cloud.Provider = "hub" }},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			got, want := defaults(), defaults()
			if tt.edit != nil {
				tt.edit(&want)
			}
			err := Set(&got, tt.key, tt.value)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Set(%q, %q) = %v, want %v", tt.key, tt.value, err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("Set(%q, %q) = %v, want nil", tt.key, tt.value, err)
			}
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(sample{})); diff != "" {
				t.Errorf("Set(%q, %q) mismatch (-want +got):\n%s", tt.key, tt.value, diff)
			}
		})
	}
	if err, want := Set(nil, "a", "b"), "config: Set: want a non-nil pointer to a struct, got nil"; err == nil || err.Error() != want {
		t.Errorf("Set(nil) = %v, want %v", err, want)
	}
}

func TestCheck(t *testing.T) {
	hub := defaults()
	hub.Cloud.Provider = "hub"
	fps := defaults()
	fps.Camera.FPS = 0
	local := defaults()
	local.Cloud.Local.PublicURL = "10.0.0.2"
	tests := []struct {
		name string
		v    any
		want string // "" for no error
	}{
		{"defaults", defaults(), ""},
		{"pointer", new(defaults()), ""},
		{"range", fps, "camera.fps: must be between 1 and 60 (got 0)"},
		{"validator on value", hub, errHubURL.Error()},
		{"validator on pointer", &hub, errHubURL.Error()},
		{"nested validator", local, "cloud.local: public_url must be an http(s) URL"},
		{"nil", nil, "config: Check: want a struct or pointer to struct, got nil"},
		{"nil pointer", (*sample)(nil), "config: Check: nil *config.sample"},
		{"int", 5, "config: Check: want a struct or pointer to struct, got int"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.v)
			var got string
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Check(%T) = %v, want %q", tt.v, err, tt.want)
			}
		})
	}
}

func TestSuggestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"enter_dwel", "enter_dwell", 1},
		{"enter_dwlel", "enter_dwell", 1}, // transposition
		{"kitten", "sitting", 3},
	}
	for _, tt := range tests {
		if got := distance(tt.a, tt.b); got != tt.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// FuzzLoad checks that Load never panics, that its errors are one line and
// that whatever it accepts passes Check.
func FuzzLoad(f *testing.F) {
	for _, seed := range []string{
		"", "null", "camera:\n  fps: 30\n", "presence: {enter_dwell: 5s}",
		"a: &a [*a]", "camera: &c {<<: *c}", "camera:\n  tags: [&x a, *x]\n",
		"cloud:\n  local:\n    public_url: http://x\n", "- a", "--- 1\n--- 2\n",
	} {
		f.Add([]byte(seed))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := defaults()
		err := Load(&cfg, path, nil)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("Load(%q) = %q, want a one-line error", data, err)
			}
			return
		}
		if err := Check(&cfg); err != nil {
			t.Errorf("Load(%q) accepted a config that Check rejects: %v", data, err)
		}
	})
}
