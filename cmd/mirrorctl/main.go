// Command mirrorctl manages a fleet of mirrors over MQTT (docs/contracts.md §5):
//
//	mirrorctl [--broker URL --username U --password P] ls
//	mirrorctl status ID
//	mirrorctl cmd ID NAME [json-args]
//	mirrorctl config ID key=value…
//	mirrorctl events [-f] [ID]
//	mirrorctl telemetry ID | top [--once] [--interval D] [--silent-after D] | analytics ID [--since D]
//	mirrorctl version | help [COMMAND] | help --man
//
// The flags go before or after the command (mirrorctl events m1 --timeout 3s).
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
	"unicode"
	"unicode/utf8"

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

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

// Exit codes.
const (
	exitOK      = 0
	exitRefused = 1 // the mirror answered ok:false or reported an invalid config
	exitUsage   = 2 // bad arguments, connection failure
	exitTimeout = 3 // no answer in time
)

// overview is mirrorctl's own help (mirrorctl -h).
var overview = cli.Help{
	Usage: "mirrorctl [flags] COMMAND [args] [flags]",
	Summary: `commands:
  ls                         all mirrors (retained status)
  status ID                  one mirror's status and reported configuration
  cmd ID NAME [json-args]    run a command and wait for its result
  config ID key=value...     change the desired configuration and wait for the report
  events [-f] [ID]           events (of one mirror or all) for --timeout, or follow with -f
  telemetry ID               the next telemetry of a mirror (within --timeout), readably
  top [--once] [--interval D] [--silent-after D]
                             a live table of the fleet: status and telemetry of every mirror
  analytics ID [--since D]   a mirror's shopper counters and rates over the last D (24h)
  ha-discovery [--remove] [--ha-prefix P] [--interval D]
                             announce (or remove) every mirror to Home Assistant (MQTT discovery)
  version                    print the version (also: mirrorctl --version)
  help [COMMAND] | --man     this help, one command's, or the manual page

The flags go before or after the command; mirrorctl COMMAND -h prints one command's.`,
}

// helps are the commands' usage and summaries, for -h, help and the man page.
var helps = map[string]cli.Help{
	"ls": {Usage: "mirrorctl ls [flags]", Summary: "Lists every mirror with a retained status: state, version, last seen, since when and why."},
	"status": {Usage: "mirrorctl status ID [flags]",
		Summary: "Shows one mirror's status, the configuration version it reported (applied, or refused with the\nerror) and its effective keys."},
	"cmd": {Usage: "mirrorctl cmd ID NAME [json-args] [flags]",
		Summary: "Sends the command NAME (ping, end-session, purge-photos, set-light, analytics, restart, reload-kiosk, snapshot)\nwith its JSON arguments and waits --timeout for the result."},
	"config": {Usage: "mirrorctl config ID key=value... [flags]",
		Summary: "Merges the keys into the mirror's retained desired configuration and waits for the mirror's report:\napplied, or refused naming the key (exit 1)."},
	"events": {Usage: "mirrorctl events [-f] [ID] [--console URL --operator NAME [--last N]] [flags]",
		Summary: "Prints the events the mirrors (or mirror ID) send while mirrorctl listens: for --timeout, then\nthe table; with -f one row per event until interrupted. MQTT does not retain events (a mirror\nsends each once, from its outbox), but the hub keeps them: with --console (the fleet console of\nmirror-cloud) and an ID, the last N events the hub keeps come first, at once, then -f follows.\nThe console password is read from MIRRORCTL_CONSOLE_PASSWORD."},
	"telemetry": {Usage: "mirrorctl telemetry ID [flags]",
		Summary: "Waits --timeout for the next telemetry of mirror ID (telemetry is not retained: mirrors send it every\ntelemetry_interval, 30s by default) and prints it with units: fps, CPU, temperature, disk, counters,\nproblems. --json prints the message as it came."},
	"top": {Usage: "mirrorctl top [--once] [--interval D] [--silent-after D] [flags]",
		Summary: "A table of every mirror: its retained status and its latest telemetry (fps, CPU, temperature, disk,\ncamera, session, bound/QR shown), problems first, redrawn every --interval until interrupted. With\n--once, --json or when stdout is not a terminal it prints one table after --timeout."},
	"analytics": {Usage: "mirrorctl analytics ID [--since D] [flags]",
		Summary: "Runs the analytics command on mirror ID and prints its counters for people: sessions, average dwell,\nphotos per session, QR shown, bound and the conversion in percent, the average time to scan."},
	"ha-discovery": {Usage: "mirrorctl ha-discovery [--remove] [--ha-prefix P] [--interval D] [flags]",
		Summary: "Announces every mirror that has a status to Home Assistant (retained MQTT discovery messages), or\nwith --remove removes them."},
	"version": {Usage: "mirrorctl version\nmirrorctl --version", Summary: "Prints the version."},
	"help":    {Usage: "mirrorctl help [COMMAND]\nmirrorctl help --man", Summary: "Prints the usage, or one command's; --man prints the manual page."},
}

// cmdOrder is the commands in the order the man page lists them.
var cmdOrder = []string{"ls", "status", "cmd", "config", "events", "telemetry", "top", "analytics", "ha-discovery", "version", "help"}

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
	console, operator          string // events: the fleet console and its operator
	out, errOut                io.Writer
	// given are the flags set on the command line (the environment fills in the others).
	given map[string]bool
	// subscribed, if set, is called after each SUBACK (tests wait on it instead of sleeping).
	subscribed func(filters []string)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return (&app{out: stdout}).run(ctx, args, stderr)
}

// globalFlags defines mirrorctl's own flags on fs, with c's values as the defaults (the
// fixed defaults on the first call: the environment is applied after parsing, so that help
// and the man page never show a password from it).
func (c *app) globalFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.broker, "broker", c.broker, "broker URL (tcp://, mqtts://…); env MIRRORCTL_BROKER")
	fs.StringVar(&c.username, "username", c.username, "MQTT username; env MIRRORCTL_USERNAME")
	fs.StringVar(&c.password, "password", c.password, "MQTT password; env MIRRORCTL_PASSWORD")
	fs.StringVar(&c.prefix, "prefix", c.prefix, "topic prefix (mqtt.topic_prefix of the mirrors)")
	fs.BoolVar(&c.jsonOut, "json", c.jsonOut, "JSON output for scripts")
	fs.DurationVar(&c.timeout, "timeout", c.timeout, "how long to wait for answers")
	fs.StringVar(&c.tlsCA, "tls-ca", c.tlsCA, "CA certificate of the broker (PEM)")
	fs.StringVar(&c.tlsCert, "tls-cert", c.tlsCert, "client certificate (PEM)")
	fs.StringVar(&c.tlsKey, "tls-key", c.tlsKey, "client key (PEM)")
}

// run parses the flags into c and runs the command; it returns the exit status.
func (c *app) run(ctx context.Context, args []string, stderr io.Writer) int {
	c.errOut = stderr
	c.broker, c.username, c.password = "tcp://127.0.0.1:1883", broker.OpsUser, ""
	c.prefix, c.jsonOut, c.timeout = wire.DefaultTopicPrefix, false, 10*time.Second
	c.given = map[string]bool{}
	fs := cli.NewFlagSet("mirrorctl", overview, stderr)
	c.globalFlags(fs)
	showVersion := fs.Bool("version", false, "print the version")
	err := cli.Parse(fs, args, len(args), c.out)
	if err == nil && *showVersion {
		fmt.Fprintln(c.out, cli.Version(version))
		return exitOK
	}
	if err == nil {
		fs.Visit(func(f *flag.Flag) { c.given[f.Name] = true })
		err = c.command(ctx, fs.Args(), stderr)
	}
	var ee *cli.ExitError
	if err != nil && !errors.As(err, &ee) && !errors.Is(err, cli.ErrUsage) && !errors.Is(err, flag.ErrHelp) {
		err = cli.WithCode(exitUsage, err) // connection and other local failures
	}
	return cli.ExitCode("mirrorctl", err, stderr)
}

// command parses the command's arguments and flags (mirrorctl's own among them, before or
// after the positional arguments) and runs it.
func (c *app) command(ctx context.Context, args []string, stderr io.Writer) error {
	if len(args) == 0 {
		return fail(exitUsage, "no command (ls, status, cmd, config, events, telemetry, top, analytics, ha-discovery); see mirrorctl -h")
	}
	name, rest := args[0], args[1:]
	h, ok := helps[name]
	if !ok {
		return fail(exitUsage, "unknown command %q (ls, status, cmd, config, events, telemetry, top, analytics, ha-discovery); see mirrorctl -h", name)
	}
	own := flag.NewFlagSet(name, flag.ContinueOnError) // the command's own flags
	var follow, remove, man, once *bool
	var haPrefix, consoleURL, operator *string
	var last *int
	var interval, since, silentAfter *time.Duration
	switch name {
	case "events":
		follow = own.Bool("f", false, "follow: print each event as it comes, until interrupted")
		consoleURL = own.String("console", "", "the fleet console's `URL` (mirror-cloud's console.listen), for the events the hub keeps; env MIRRORCTL_CONSOLE")
		operator = own.String("operator", "", "console operator `NAME`; env MIRRORCTL_OPERATOR, password in MIRRORCTL_CONSOLE_PASSWORD")
		last = own.Int("last", 20, "with --console: how many of the events the hub keeps (1 to 1000)")
	case "top":
		once = own.Bool("once", false, "print one table after --timeout and exit")
		interval = own.Duration("interval", 2*time.Second, "how often the table is redrawn")
		silentAfter = own.Duration("silent-after", 90*time.Second, "a mirror that says it is up but sends no telemetry this long is shown silent (the console's console.silent_after: 3 × the mirrors' telemetry_interval)")
	case "analytics":
		since = own.Duration("since", 24*time.Hour, "the period: sessions opened within the last `D`")
	case "ha-discovery":
		remove = own.Bool("remove", false, "remove the entities instead")
		haPrefix = own.String("ha-prefix", fleet.DefaultHAPrefix, "Home Assistant discovery `prefix`")
		interval = own.Duration("interval", 30*time.Second, "the mirrors' telemetry_interval")
	case "help":
		man = own.Bool("man", false, "print the manual page (roff), generated from the commands' flags")
	}
	fs := flag.NewFlagSet("mirrorctl "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	own.VisitAll(func(f *flag.Flag) { fs.Var(f.Value, f.Name, f.Usage) })
	c.globalFlags(fs)
	fs.Usage = func() {
		cli.WriteHelp(fs.Output(), own, h)
		fmt.Fprintln(fs.Output(), "\nThe flags of mirrorctl -h (--broker, --json, --timeout, …) work here too.")
	}
	pos, err := cli.ParseAll(fs, rest, c.out)
	if err != nil {
		return err
	}
	fs.Visit(func(f *flag.Flag) { c.given[f.Name] = true })
	c.environment()
	switch name {
	case "events":
		c.console, c.operator = envGiven(*consoleURL, "MIRRORCTL_CONSOLE"), envGiven(*operator, "MIRRORCTL_OPERATOR")
		if *last < 1 || *last > 1000 {
			return fail(exitUsage, "events: --last %d: want 1 to 1000", *last)
		}
		return c.eventsCmd(ctx, pos, *follow, *last)
	case "ha-discovery":
		if len(pos) != 0 {
			return fail(exitUsage, "usage: %s", h.Usage)
		}
		return c.haDiscovery(ctx, *haPrefix, *interval, *remove)
	case "top":
		if len(pos) != 0 {
			return fail(exitUsage, "top takes no arguments")
		}
		return c.top(ctx, *interval, *silentAfter, *once)
	case "analytics":
		if len(pos) != 1 {
			return fail(exitUsage, "usage: %s", h.Usage)
		}
		if *since <= 0 {
			return fail(exitUsage, "analytics: --since %s: want a positive duration", *since)
		}
		return c.dispatch(ctx, name, append(pos, fmt.Sprintf(`{"since":%q}`, since.String())))
	case "version":
		if len(pos) != 0 {
			return fail(exitUsage, "version takes no arguments")
		}
		fmt.Fprintln(c.out, cli.Version(version))
		return nil
	case "help":
		return c.help(pos, *man)
	}
	return c.dispatch(ctx, name, pos)
}

// environment fills in the broker and credentials the command line left out.
func (c *app) environment() {
	for _, e := range []struct {
		flag, env string
		v         *string
	}{{"broker", "MIRRORCTL_BROKER", &c.broker}, {"username", "MIRRORCTL_USERNAME", &c.username}, {"password", "MIRRORCTL_PASSWORD", &c.password}} {
		if v := os.Getenv(e.env); v != "" && !c.given[e.flag] {
			*e.v = v
		}
	}
}

// envGiven is v, or when it is empty the environment variable env.
func envGiven(v, env string) string {
	if v == "" {
		return os.Getenv(env)
	}
	return v
}

func (c *app) eventsCmd(ctx context.Context, pos []string, follow bool, last int) error {
	id := "+"
	switch len(pos) {
	case 0:
	case 1:
		id = pos[0]
		if !wire.ValidDeviceID(id) {
			return fail(exitUsage, "events: %q is not a device ID", id)
		}
	default:
		return fail(exitUsage, "usage: events [-f] [ID]")
	}
	if c.console == "" {
		return c.events(ctx, id, follow, nil)
	}
	if id == "+" {
		return fail(exitUsage, "events --console: name a mirror (the hub keeps each mirror's events; without an ID, mirrorctl only listens)")
	}
	es, err := c.history(ctx, id, last)
	if err != nil {
		return err
	}
	return c.events(ctx, id, follow, c.historyRows(id, es))
}

// help prints mirrorctl's usage, one command's, or the manual page.
func (c *app) help(pos []string, man bool) error {
	switch {
	case man:
		page, err := manPage()
		if err != nil {
			return err
		}
		fmt.Fprint(c.out, page)
		return nil
	case len(pos) == 1:
		if _, ok := helps[pos[0]]; !ok {
			return fail(exitUsage, "help: unknown command %q", pos[0])
		}
		return (&app{out: c.out}).command(context.Background(), []string{pos[0], "-h"}, io.Discard)
	case len(pos) > 1:
		return fail(exitUsage, "usage: help [COMMAND]")
	}
	fs := flag.NewFlagSet("mirrorctl", flag.ContinueOnError)
	(&app{broker: "tcp://127.0.0.1:1883", username: broker.OpsUser, prefix: wire.DefaultTopicPrefix, timeout: 10 * time.Second}).globalFlags(fs)
	cli.WriteHelp(c.out, fs, overview)
	return nil
}

// manPage is mirrorctl(1), from mirrorctl -h and every command's -h.
func manPage() (string, error) {
	p := cli.Page{Name: "mirrorctl", Summary: "manage a fleet of fitting mirrors over MQTT",
		Description: `mirrorctl talks to the fleet's MQTT broker as the operator (_ops): it lists the mirrors, shows one
mirror's status, runs commands, changes configuration and follows the event stream.

Output is a table for people and, with --json, JSON for scripts (one document, or one line per
event). The broker and credentials also come from the environment: MIRRORCTL_BROKER,
MIRRORCTL_USERNAME and MIRRORCTL_PASSWORD.`,
		Exit:    "0 done; 1 the mirror answered with an error (its message on standard error, one line); 2 a usage or connection error; 3 no answer within --timeout.",
		SeeAlso: "mirror-agent(1), mirror-cloud(1)"}
	run := func(args []string, stdout, stderr io.Writer) error {
		if code := (&app{out: stdout}).run(context.Background(), args, stderr); code != 0 {
			return fmt.Errorf("exit %d", code)
		}
		return nil
	}
	sec, err := cli.CommandHelp(run)
	if err != nil {
		return "", err
	}
	sec.Title = "flags"
	p.Commands = append(p.Commands, sec)
	for _, c := range cmdOrder {
		sec, err := cli.CommandHelp(run, c)
		if err != nil {
			return "", err
		}
		p.Commands = append(p.Commands, sec)
	}
	return p.Roff(), nil
}

func (c *app) dispatch(ctx context.Context, name string, rest []string) error {
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
	case "telemetry":
		id, err := needID(name)
		if err != nil {
			return err
		}
		if len(rest) != 1 {
			return fail(exitUsage, "telemetry takes one mirror ID")
		}
		return c.telemetry(ctx, id)
	case "analytics":
		id, err := needID(name)
		if err != nil {
			return err
		}
		if len(rest) != 2 { // the ID and the arguments command added
			return fail(exitUsage, "analytics takes one mirror ID")
		}
		return c.cmd(ctx, id, wire.CmdAnalytics, rest[1])
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
	default: // config
		id, err := needID(name)
		if err != nil {
			return err
		}
		if len(rest) < 2 {
			return fail(exitUsage, "usage: config ID key=value…")
		}
		return c.config(ctx, id, rest[1:])
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
	return safe(s, maxCell)
}

// maxCell bounds a device-supplied string in a table or a message, in characters.
const maxCell = 200

// safe renders a string a mirror sent (a status reason, a version, an error message) for a
// terminal: a compromised mirror must not be able to clear the screen, move the cursor, fake
// an "OK" or set the window title. Control characters (C0, DEL, C1) and bytes that are not
// UTF-8 are shown as \xNN, the Unicode format controls that reorder or hide text (bidi
// overrides and isolates, zero-width marks, line and paragraph separators) as \uNNNN, and
// the string is cut at max characters with "…". --json output is exact and never goes
// through here.
func safe(s string, max int) string {
	var b strings.Builder
	for i, n := 0, 0; i < len(s); n++ {
		if n == max {
			b.WriteString("…")
			break
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unicode.IsControl(r), unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp):
			// C1 controls, and the format characters: bidi overrides and isolates, zero
			// widths, the BOM, interlinear annotations, tags (past U+FFFF: \U0000e0001).
			if r > 0xffff {
				fmt.Fprintf(&b, `\U%08x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

// state renders a mirror's state: one of the contract's words, else unknown(…), so a mirror
// cannot show itself as any string it likes.
func state(s string) string {
	switch s {
	case wire.StateOnline, wire.StateDegraded, wire.StateOffline:
		return s
	case "":
		return "unknown"
	}
	return "unknown(" + safe(s, 32) + ")"
}
