// Command mirror-agent runs a fitting mirror: camera → presence → session → display, photos
// and their QR codes.
//
//	mirror-agent [run] [--config FILE] [--set key=value]...
//	mirror-agent replay --video FILE [--debug-video OUT.avi] [--config FILE] [--set key=value]...
//	mirror-agent check [--config FILE] [--set key=value]...
//	mirror-agent config [--config FILE] [--set key=value]... [--keys]
//	mirror-agent version
//
// With no configuration it runs on its embedded defaults: the first /dev/video* camera (or the
// demo clip), the kiosk page on http://127.0.0.1:8080, and the local QR provider.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/fitmirror/fitmirror/cmd/internal/cli"
	"github.com/fitmirror/fitmirror/cmd/internal/config"
	"github.com/fitmirror/fitmirror/device/camera"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func agentVersion() string { return cli.Version(version) }

// errUsage marks command-line mistakes (exit 2).
var errUsage = cli.ErrUsage

func main() {
	camera.QuietLibraries()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.ExitCode("mirror-agent", err, os.Stderr))
}

func oneLine(err error) string { return cli.OneLine(err) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("mirror-agent "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "YAML configuration `file` (default: embedded defaults)")
	var sets cli.SetFlags
	fs.Var(&sets, "set", "override one key, e.g. --set presence.enter_dwell=2s (repeatable)")
	switch cmd {
	case "run":
		if err := parse(fs, args); err != nil {
			return err
		}
		cfg, log, err := load(*file, sets, stderr)
		if err != nil {
			return err
		}
		reload := func() (*Config, error) {
			c := defaultConfig()
			if err := config.Load(&c, *file, sets); err != nil {
				return nil, err
			}
			return &c, nil
		}
		return runAgent(ctx, cfg, log, reload)
	case "replay":
		video := fs.String("video", "", "video `file` or image folder to replay (required)")
		debugVideo := fs.String("debug-video", "", "also write every frame with faces, motion, zone, buttons and state drawn to this .avi `file`")
		if err := parse(fs, args); err != nil {
			return err
		}
		if *video == "" {
			fmt.Fprintln(stderr, "mirror-agent replay: --video is required")
			return errUsage
		}
		cfg, _, err := load(*file, sets, stderr)
		if err != nil {
			return err
		}
		return replay(cfg, *video, *debugVideo, stdout)
	case "check":
		if err := parse(fs, args); err != nil {
			return err
		}
		cfg, _, err := load(*file, sets, stderr)
		if err != nil {
			return err
		}
		return check(ctx, cfg, stdout)
	case "config":
		keys := fs.Bool("keys", false, "print every key with its default and allowed values (Markdown)")
		if err := parse(fs, args); err != nil {
			return err
		}
		if *keys {
			fmt.Fprint(stdout, config.Markdown(docDefaults()))
			return nil
		}
		cfg, _, err := load(*file, sets, stderr)
		if err != nil {
			return err
		}
		return printYAML(stdout, config.Redact(config.Effective(cfg)))
	case "version":
		fmt.Fprintln(stdout, agentVersion())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stderr, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "mirror-agent: unknown command %q\n%s", cmd, usage)
		return errUsage
	}
}

const usage = `usage:
  mirror-agent [run] [--config FILE] [--set key=value]...
  mirror-agent replay --video FILE [--debug-video OUT.avi] [--config FILE] [--set key=value]...
  mirror-agent check [--config FILE] [--set key=value]...
  mirror-agent config [--config FILE] [--set key=value]... [--keys]
  mirror-agent version
`

func parse(fs *flag.FlagSet, args []string) error {
	return cli.Parse(fs, args, 0)
}

// load reads the configuration and sets up logging.
func load(file string, sets []string, stderr io.Writer) (*Config, *slog.Logger, error) {
	cfg := defaultConfig()
	if err := config.Load(&cfg, file, sets); err != nil {
		return nil, nil, err
	}
	return &cfg, newLogger(cfg.Log, stderr), nil
}

func newLogger(c LogConfig, w io.Writer) *slog.Logger { return cli.NewLogger(c.Level, c.Format, w) }
