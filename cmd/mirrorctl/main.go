// Command mirrorctl manages a fleet of mirrors over MQTT (docs/contracts.md §5):
//
//	mirrorctl [--broker URL --username U --password P] ls
//	mirrorctl status ID
//	mirrorctl cmd ID NAME [json-args]
//	mirrorctl config ID key=value…
//	mirrorctl events [-f] [ID]
//
// Output is a table for people and, with --json, JSON for scripts (one document, or one line
// per event). The broker and credentials also come from MIRRORCTL_BROKER,
// MIRRORCTL_USERNAME and MIRRORCTL_PASSWORD. Exit status: 0 done, 1 the mirror answered
// with an error, 2 usage or connection errors, 3 no answer within --timeout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/fitmirror/fitmirror/cloud/fleet"
	"github.com/fitmirror/fitmirror/cloud/fleet/broker"
	"github.com/fitmirror/fitmirror/cmd/internal/cli"
	"github.com/fitmirror/fitmirror/internal/wire"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK      = 0
	exitRefused = 1 // the mirror answered ok:false or reported an invalid config
	exitUsage   = 2 // bad arguments, connection failure
	exitTimeout = 3 // no answer in time
)

const usage = `usage: mirrorctl [flags] COMMAND
  ls                         all mirrors (retained status)
  status ID                  one mirror's status and reported configuration
  cmd ID NAME [json-args]    run a command and wait for its result
  config ID key=value…       change the desired configuration and wait for the report
  events [-f] [ID]           events (of one mirror or all) for --timeout, or follow with -f
  ha-discovery [--remove] [--ha-prefix P] [--interval D]
                             announce (or remove) every mirror to Home Assistant (MQTT discovery)
flags:
`

// fail is an error that ends mirrorctl with code.
func fail(code int, format string, a ...any) error {
	return cli.WithCode(code, fmt.Errorf(format, a...))
}

type app struct {
	broker, username, password string
	prefix                     string
	jsonOut                    bool
	timeout                    time.Duration
	tlsCA, tlsCert, tlsKey     string
	out                        io.Writer
	// subscribed, if set, is called after each SUBACK (tests wait on it instead of sleeping).
	subscribed func(filters []string)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return (&app{out: stdout}).run(ctx, args, stderr)
}

// run parses the flags into c and runs the command; it returns the exit status.
func (c *app) run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("mirrorctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.broker, "broker", envOr("MIRRORCTL_BROKER", "tcp://127.0.0.1:1883"), "broker URL (tcp://, mqtts://…); env MIRRORCTL_BROKER")
	fs.StringVar(&c.username, "username", envOr("MIRRORCTL_USERNAME", broker.OpsUser), "MQTT username; env MIRRORCTL_USERNAME")
	fs.StringVar(&c.password, "password", os.Getenv("MIRRORCTL_PASSWORD"), "MQTT password; env MIRRORCTL_PASSWORD")
	fs.StringVar(&c.prefix, "prefix", wire.DefaultTopicPrefix, "topic prefix (mqtt.topic_prefix of the mirrors)")
	fs.BoolVar(&c.jsonOut, "json", false, "JSON output for scripts")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "how long to wait for answers")
	fs.StringVar(&c.tlsCA, "tls-ca", "", "CA certificate of the broker (PEM)")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "client certificate (PEM)")
	fs.StringVar(&c.tlsKey, "tls-key", "", "client key (PEM)")
	if err := fs.Parse(args); err != nil {
		return cli.ExitCode("mirrorctl", cli.ErrUsage, stderr) // flag has said what is wrong
	}
	err := c.dispatch(ctx, fs.Args())
	var ee *cli.ExitError
	if err != nil && !errors.As(err, &ee) {
		err = cli.WithCode(exitUsage, err) // connection and other local failures
	}
	return cli.ExitCode("mirrorctl", err, stderr)
}

func (c *app) dispatch(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fail(exitUsage, "no command (ls, status, cmd, config, events); see mirrorctl -h")
	}
	name, rest := args[0], args[1:]
	needID := func(n string) (string, error) {
		if len(rest) == 0 {
			return "", fail(exitUsage, "%s: missing mirror ID", n)
		}
		if !wire.ValidDeviceID(rest[0]) {
			return "", fail(exitUsage, "%s: %q is not a device ID (%s)", n, rest[0], wire.DeviceIDRule)
		}
		return rest[0], nil
	}
	switch name {
	case "ls":
		if len(rest) != 0 {
			return fail(exitUsage, "ls takes no arguments")
		}
		return c.ls(ctx)
	case "status":
		id, err := needID(name)
		if err != nil {
			return err
		}
		if len(rest) != 1 {
			return fail(exitUsage, "status takes one mirror ID")
		}
		return c.status(ctx, id)
	case "cmd":
		id, err := needID(name)
		if err != nil {
			return err
		}
		if len(rest) < 2 || len(rest) > 3 {
			return fail(exitUsage, "usage: cmd ID NAME [json-args]")
		}
		argsJSON := ""
		if len(rest) == 3 {
			argsJSON = rest[2]
		}
		return c.cmd(ctx, id, rest[1], argsJSON)
	case "config":
		id, err := needID(name)
		if err != nil {
			return err
		}
		if len(rest) < 2 {
			return fail(exitUsage, "usage: config ID key=value…")
		}
		return c.config(ctx, id, rest[1:])
	case "events":
		efs := flag.NewFlagSet("events", flag.ContinueOnError)
		efs.SetOutput(io.Discard)
		follow := efs.Bool("f", false, "follow")
		if err := efs.Parse(rest); err != nil {
			return fail(exitUsage, "events: %v", err)
		}
		id := "+"
		switch efs.NArg() {
		case 0:
		case 1:
			id = efs.Arg(0)
			if !wire.ValidDeviceID(id) {
				return fail(exitUsage, "events: %q is not a device ID", id)
			}
		default:
			return fail(exitUsage, "usage: events [-f] [ID]")
		}
		return c.events(ctx, id, *follow)
	case "ha-discovery":
		hfs := flag.NewFlagSet("ha-discovery", flag.ContinueOnError)
		hfs.SetOutput(io.Discard)
		remove := hfs.Bool("remove", false, "remove the entities instead")
		prefix := hfs.String("ha-prefix", fleet.DefaultHAPrefix, "Home Assistant discovery prefix")
		interval := hfs.Duration("interval", 30*time.Second, "the mirrors' telemetry_interval")
		if err := hfs.Parse(rest); err != nil {
			return fail(exitUsage, "ha-discovery: %v", err)
		}
		if hfs.NArg() != 0 {
			return fail(exitUsage, "usage: ha-discovery [--remove] [--ha-prefix P] [--interval D]")
		}
		return c.haDiscovery(ctx, *prefix, *interval, *remove)
	default:
		return fail(exitUsage, "unknown command %q (ls, status, cmd, config, events, ha-discovery)", name)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func (c *app) topics(id string) wire.Topics { return wire.Topics{Prefix: c.prefix, Device: id} }

// quoteIfNeeded keeps table cells on one line.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.NewReplacer("\n", " ", "\t", " ").Replace(s)
}
