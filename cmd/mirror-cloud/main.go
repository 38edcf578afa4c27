// Command mirror-cloud is the WeChat hub: it issues the QR codes the mirrors show, receives
// WeChat's subscribe/SCAN pushes, gets the photo to the shopper and reports the binding to the
// mirror over MQTT.
//
//	mirror-cloud serve [--config FILE] [--set key=value]...
//	mirror-cloud device add ID [--config FILE] [--set key=value]...
//	mirror-cloud device rotate ID [--config FILE] [--set key=value]...
//	mirror-cloud config [--config FILE] [--set key=value]... [--keys]
//	mirror-cloud check [--config FILE] [--set key=value]...
//	mirror-cloud migrate --to postgres://… [--config FILE] [--set key=value]...
//	mirror-cloud export [--out FILE] [--config FILE] [--set key=value]...
//	mirror-cloud import FILE [--config FILE] [--set key=value]...
//	mirror-cloud nats-auth [--config nats-auth.yaml] [--set key=value]...
//	mirror-cloud nats-auth init --dir DIR [--users-file FILE]
//	mirror-cloud version
//
// With no configuration it serves in sim mode (the built-in WeChat simulator) with an
// embedded MQTT broker and SQLite in ./state.
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

	"gopkg.in/yaml.v3"

	"github.com/fitmirror/fitmirror/cmd/internal/cli"
	"github.com/fitmirror/fitmirror/cmd/internal/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func cloudVersion() string { return cli.Version(version) }

var errUsage = cli.ErrUsage

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.ExitCode("mirror-cloud", err, os.Stderr))
}

const usage = `usage:
  mirror-cloud serve [--config FILE] [--set key=value]...
  mirror-cloud device add ID [--config FILE] [--set key=value]...
  mirror-cloud device rotate ID [--config FILE] [--set key=value]...
  mirror-cloud config [--config FILE] [--set key=value]... [--keys]
  mirror-cloud check [--config FILE] [--set key=value]...
  mirror-cloud migrate --to postgres://… [--config FILE] [--set key=value]...
  mirror-cloud export [--out FILE] [--config FILE] [--set key=value]...
  mirror-cloud import FILE [--config FILE] [--set key=value]...
  mirror-cloud nats-auth [--config nats-auth.yaml] [--set key=value]...
  mirror-cloud nats-auth init --dir DIR [--users-file FILE]
  mirror-cloud version
`

// device runs "device add ID" and "device rotate ID" (the ID before or after the flags).
func device(ctx context.Context, cmd string, fs *flag.FlagSet, args []string, file *string, sets *cli.SetFlags, stdout, stderr io.Writer) error {
	id, err := positional(fs, args, "device ID") // before or after the flags
	if err != nil {
		return err
	}
	cfg, _, err := load(*file, *sets, stderr)
	if err != nil {
		return err
	}
	if cmd == "device rotate" {
		return deviceRotate(ctx, cfg, id, stdout)
	}
	return deviceAdd(ctx, cfg, id, stdout)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	cmd, args := args[0], args[1:]
	if cmd == "nats-auth" { // its own configuration: the NATS cluster's auth callout service
		return natsAuth(ctx, args, stdout, stderr)
	}
	if cmd == "device" {
		if len(args) == 0 || (args[0] != "add" && args[0] != "rotate") {
			fmt.Fprintf(stderr, "mirror-cloud device: want \"device add ID\" or \"device rotate ID\"\n%s", usage)
			return errUsage
		}
		cmd, args = "device "+args[0], args[1:]
	}
	fs := flag.NewFlagSet("mirror-cloud "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "YAML configuration `file` (default: embedded defaults)")
	var sets cli.SetFlags
	fs.Var(&sets, "set", "override one key, e.g. --set listen=127.0.0.1:8090 (repeatable)")
	switch cmd {
	case "serve":
		if err := parse(fs, args, 0); err != nil {
			return err
		}
		cfg, log, err := load(*file, sets, stderr)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, log)
	case "device add", "device rotate":
		return device(ctx, cmd, fs, args, file, &sets, stdout, stderr)
	case "config":
		keys := fs.Bool("keys", false, "print every key with its default and allowed values (Markdown)")
		if err := parse(fs, args, 0); err != nil {
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
		return yaml.NewEncoder(stdout).Encode(config.Redact(config.Effective(cfg)))
	case "check":
		if err := parse(fs, args, 0); err != nil {
			return err
		}
		cfg, _, err := load(*file, sets, stderr)
		if err != nil {
			return err
		}
		return check(ctx, cfg, stdout, checkOptions{})
	case "migrate":
		to := fs.String("to", "", "PostgreSQL `url` to move the SQLite hub of state_dir into (default: database.url)")
		if err := parse(fs, args, 0); err != nil {
			return err
		}
		cfg, _, err := load(*file, sets, stderr)
		if err != nil {
			return err
		}
		return migrate(ctx, cfg, *to, stdout)
	case "export":
		out := fs.String("out", "", "write the export to this `file` (default: standard output)")
		if err := parse(fs, args, 0); err != nil {
			return err
		}
		cfg, _, err := load(*file, sets, stderr)
		if err != nil {
			return err
		}
		return export(ctx, cfg, *out, stdout, stderr)
	case "import":
		path, err := positional(fs, args, "export file")
		if err != nil {
			return err
		}
		cfg, _, err := load(*file, sets, stderr)
		if err != nil {
			return err
		}
		return importFile(ctx, cfg, path, stdout)
	case "version":
		fmt.Fprintln(stdout, cloudVersion())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stderr, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "mirror-cloud: unknown command %q\n%s", cmd, usage)
		return errUsage
	}
}

// positional parses args with exactly one positional argument (what), before or after the flags.
func positional(fs *flag.FlagSet, args []string, what string) (string, error) {
	var v string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		v, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if v == "" && fs.NArg() == 1 {
		v = fs.Arg(0)
	} else if fs.NArg() > 0 || v == "" {
		fmt.Fprintf(fs.Output(), "%s: want exactly one %s\n", fs.Name(), what)
		return "", errUsage
	}
	return v, nil
}

func parse(fs *flag.FlagSet, args []string, nargs int) error {
	return cli.Parse(fs, args, nargs)
}

func load(file string, sets []string, stderr io.Writer) (*Config, *slog.Logger, error) {
	cfg := defaultConfig()
	if err := config.Load(&cfg, file, sets); err != nil {
		return nil, nil, err
	}
	return &cfg, newLogger(cfg.Log, stderr), nil
}

func newLogger(c LogConfig, w io.Writer) *slog.Logger { return cli.NewLogger(c.Level, c.Format, w) }
