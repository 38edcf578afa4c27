// Command mirror-agent runs a fitting mirror: camera → presence → session → display, photos
// and their QR codes.
//
//	mirror-agent [run] [--config FILE] [--set key=value]...
//	mirror-agent replay --video FILE [--debug-video OUT.avi] [--config FILE] [--set key=value]...
//	mirror-agent check [--config FILE] [--set key=value]...
//	mirror-agent config [--config FILE] [--set key=value]... [--keys]
//	mirror-agent update-apply [--config FILE] [--set key=value]...
//	mirror-agent version
//	mirror-agent help [COMMAND] | --man
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

// helps are the commands' usage and summaries, for -h, help and the man page.
var helps = map[string]cli.Help{
	"run": {Usage: "mirror-agent [run] [--config FILE] [--set key=value]...",
		Summary: "Runs the mirror: camera, presence, session, kiosk display, photos and their QR codes, and the fleet\nconnection. With no configuration it runs on its embedded defaults. SIGHUP reloads the configuration."},
	"replay": {Usage: "mirror-agent replay --video FILE [--debug-video OUT.avi] [--config FILE] [--set key=value]...",
		Summary: "Runs a video file or image folder through presence detection and the session engine as fast as the\nCPU allows, printing one JSON line per session event on stdout."},
	"check": {Usage: "mirror-agent check [--config FILE] [--set key=value]...",
		Summary: "Probes every configured part (camera, face detector, listeners, panel, GPIO, broker, hub, state\ndirectory), one line each with a hint on failure. Exits 0 only when all of them work."},
	"config": {Usage: "mirror-agent config [--config FILE] [--set key=value]... [--keys]",
		Summary: "Prints the effective configuration as YAML (secrets hidden), or with --keys every key with its\ndefault and allowed values."},
	"update-apply": {Usage: "mirror-agent update-apply [--config FILE] [--set key=value]...",
		Summary: "Installs the verified software update waiting in <state_dir>/update (docs/updates.md): keeps the running\npackage, runs dpkg, waits for the new version to report healthy and reinstalls the old one otherwise.\nRun as root by fitmirror-update.service, which fitmirror-update.path starts when the agent asks."},
	"version": {Usage: "mirror-agent version\nmirror-agent --version", Summary: "Prints the version."},
	"help":    {Usage: "mirror-agent help [COMMAND]\nmirror-agent help --man", Summary: "Prints the usage of every command, or of one; --man prints the manual page."},
}

// cmdOrder is the commands in the order the usage and the man page list them.
var cmdOrder = []string{"run", "replay", "check", "config", "update-apply", "version", "help"}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "run"
	switch {
	case len(args) > 0 && cli.IsHelp(args[0]):
		fmt.Fprint(stdout, usage())
		return nil
	case len(args) > 0 && cli.IsVersion(args[0]):
		fmt.Fprintln(stdout, agentVersion())
		return nil
	case len(args) > 0 && !strings.HasPrefix(args[0], "-"):
		cmd, args = args[0], args[1:]
	}
	h, ok := helps[cmd]
	if !ok {
		fmt.Fprintf(stderr, "mirror-agent: unknown command %q\n%s", cmd, usage())
		return errUsage
	}
	fs := cli.NewFlagSet("mirror-agent "+cmd, h, stderr)
	parse := func() error { return cli.Parse(fs, args, 0, stdout) }
	if cmd == "version" || cmd == "help" {
		return runInfo(cmd, fs, args, stdout)
	}
	file := fs.String("config", "", "YAML configuration `file` (default: embedded defaults)")
	var sets cli.SetFlags
	fs.Var(&sets, "set", "override one key, e.g. --set presence.enter_dwell=2s (repeatable)")
	switch cmd {
	case "run":
		if err := parse(); err != nil {
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
		if err := parse(); err != nil {
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
		return replay(cfg, *video, *debugVideo, stdout, stderr)
	case "check", "update-apply":
		if err := parse(); err != nil {
			return err
		}
		cfg, log, err := load(*file, sets, stderr)
		if err != nil {
			return err
		}
		if cmd == "update-apply" {
			return runUpdateApply(ctx, cfg, log)
		}
		return check(ctx, cfg, stdout, stderr)
	default: // config
		keys := fs.Bool("keys", false, "print every key with its default and allowed values (Markdown)")
		if err := parse(); err != nil {
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
	}
}

// runInfo runs the commands about the program itself: version and help.
func runInfo(cmd string, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	if cmd == "version" {
		if err := cli.Parse(fs, args, 0, stdout); err != nil {
			return err
		}
		fmt.Fprintln(stdout, agentVersion())
		return nil
	}
	man := fs.Bool("man", false, "print the manual page (roff), generated from the commands' flags")
	if err := cli.Parse(fs, args, 1, stdout); err != nil {
		return err
	}
	switch {
	case *man:
		page, err := manPage()
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, page)
		return nil
	case fs.NArg() == 1:
		if _, ok := helps[fs.Arg(0)]; !ok {
			fmt.Fprintf(fs.Output(), "mirror-agent help: unknown command %q\n", fs.Arg(0))
			return errUsage
		}
		return run(context.Background(), []string{fs.Arg(0), "-h"}, stdout, io.Discard)
	default:
		fmt.Fprint(stdout, usage())
		return nil
	}
}

// usage lists every command's usage lines.
func usage() string {
	var b strings.Builder
	b.WriteString("usage:\n")
	for _, c := range cmdOrder {
		for _, l := range strings.Split(helps[c].Usage, "\n") {
			b.WriteString("  " + l + "\n")
		}
	}
	b.WriteString("\nmirror-agent COMMAND -h prints the usage and flags of one command.\n")
	return b.String()
}

// manPage is mirror-agent(1), from every command's -h (make man writes it to docs/man/).
func manPage() (string, error) {
	p := cli.Page{Name: "mirror-agent", Summary: "run a fitting mirror",
		Description: `mirror-agent runs a fitting mirror: camera, presence detection, the session engine, the kiosk
display, photos and their QR codes, and the connection to the fleet broker and the hub.

With no configuration it runs on its embedded defaults: the first /dev/video* camera (or the demo
clip, made on first need from the photo built into the program), the kiosk page on
http://127.0.0.1:8080, and the local QR provider. The configuration is a YAML file (--config) with
dotted keys that --set overrides; mirror-agent config --keys lists every key with its default.`,
		Exit:    "0 done; 1 an error, written as one line on standard error; 2 a usage mistake.",
		SeeAlso: "mirrorctl(1), mirror-cloud(1)"}
	run := func(args []string, stdout, stderr io.Writer) error {
		return run(context.Background(), args, stdout, stderr)
	}
	for _, c := range cmdOrder {
		sec, err := cli.CommandHelp(run, c)
		if err != nil {
			return "", err
		}
		p.Commands = append(p.Commands, sec)
	}
	return p.Roff(), nil
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
