package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fitmirror/fitmirror/cmd/internal/config"
)

type Presence struct {
	EnterDwell time.Duration `yaml:"enter_dwell" help:"time standing still before a session starts" range:"0s,30s"`
	ExitGrace  time.Duration `yaml:"exit_grace" help:"time away before a session ends" range:"0s,"`
}

type Cloud struct {
	Provider string `yaml:"provider" help:"where photos go" enum:"local,hub"`
	HubURL   string `yaml:"hub_url" help:"base URL of mirror-cloud"`
}

type Config struct {
	Presence Presence `yaml:"presence"`
	Cloud    Cloud    `yaml:"cloud"`
}

func Example() {
	// The binary fills in the defaults.
	cfg := Config{
		Presence: Presence{EnterDwell: 2 * time.Second, ExitGrace: 5 * time.Second},
		Cloud:    Cloud{Provider: "local"},
	}

	dir, err := os.MkdirTemp("", "config-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "config.yaml")
	yaml := "presence:\n  enter_dwell: 3s\ncloud:\n  provider: hub\n  hub_url: https://hub.example\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		panic(err)
	}

	// The file changes two keys, --set another; exit_grace keeps its default.
	if err := config.Load(&cfg, file, []string{"presence.enter_dwell=1500ms"}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%+v\n", cfg)

	// Errors name the key.
	fmt.Println(config.Load(&cfg, "", []string{"presence.enter_dwell=45s"}))
	fmt.Println(config.Load(&cfg, "", []string{"cloud.provder=local"}))

	fmt.Print(config.Markdown(cfg))
	// Output:
	// {Presence:{EnterDwell:1.5s ExitGrace:5s} Cloud:{Provider:hub HubURL:https://hub.example}}
	// --set presence.enter_dwell: must be between 0s and 30s (got 45s)
	// --set cloud.provder: unknown key (did you mean "cloud.provider"?)
	// | key | type | default | allowed | description |
	// |-----|------|---------|---------|-------------|
	// | `presence.enter_dwell` | duration | `1.5s` | `0s..30s` | time standing still before a session starts |
	// | `presence.exit_grace` | duration | `5s` | `0s..` | time away before a session ends |
	// | `cloud.provider` | string | `hub` | `local\|hub` | where photos go |
	// | `cloud.hub_url` | string | `https://hub.example` |  | base URL of mirror-cloud |
}
