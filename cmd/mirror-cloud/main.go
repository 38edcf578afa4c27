// Command mirror-cloud is the WeChat hub: it issues the QR codes the mirrors show, receives
// WeChat's subscribe/SCAN pushes, gets the photo to the shopper and reports the binding to the
// mirror over MQTT.
//
//	mirror-cloud serve [--config FILE] [--set key=value]...
//	mirror-cloud device add ID [--config FILE] [--set key=value]...
//	mirror-cloud device rotate ID [--config FILE] [--set key=value]...
//	mirror-cloud device remove ID [--config FILE] [--set key=value]...
//	mirror-cloud operator add NAME --role viewer|operator|admin [--password-stdin] [--config FILE] [--set key=value]...
//	mirror-cloud operator ls|remove NAME|passwd NAME [--password-stdin] [--config FILE] [--set key=value]...
//	mirror-cloud config [--config FILE] [--set key=value]... [--keys]
//	mirror-cloud check [--config FILE] [--set key=value]...
//	mirror-cloud migrate --to postgres://… [--config FILE] [--set key=value]...
//	mirror-cloud export [--out FILE] [--config FILE] [--set key=value]...
//	mirror-cloud import FILE [--config FILE] [--set key=value]...
//	mirror-cloud release add FILE.deb [--signature FILE.deb.minisig] [--config FILE] [--set key=value]...
//	mirror-cloud release ls [--json] [--config FILE] [--set key=value]...
//	mirror-cloud rollout start VERSION [--devices ID,… | --group G | --all] [--canary N] [--batch N] [--max-failures K | --max-failure-pct P] [--window HH:MM-HH:MM]
//	mirror-cloud rollout status [ID] [--json]
//	mirror-cloud rollout stop ID
//	mirror-cloud pin ID VERSION | pin ID --clear
//	mirror-cloud nats-auth [--config nats-auth.yaml] [--set key=value]...
//	mirror-cloud nats-auth init --dir DIR [--users-file FILE]
//	mirror-cloud version
//	mirror-cloud help [COMMAND] | --man
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
	"slices"
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

// helps are the commands' usage and summaries, for -h, help and the man page.
var helps = map[string]cli.Help{
	"serve": {Usage: "mirror-cloud serve [--config FILE] [--set key=value]...",
		Summary: "Serves the hub: the agents' API, the WeChat callback (or, in sim mode, its simulator), the photo\npage, /healthz and /metrics, and the embedded MQTT broker unless mqtt.url names one."},
	"device": {Usage: "mirror-cloud device add ID [--config FILE] [--set key=value]...\nmirror-cloud device rotate ID [--config FILE] [--set key=value]...\nmirror-cloud device remove ID [--config FILE] [--set key=value]...",
		Summary: "Registers a mirror, gives it new credentials, or removes it."},
	"device add": {Usage: "mirror-cloud device add ID [--config FILE] [--set key=value]...",
		Summary: "Registers the mirror ID and prints its credentials once, as JSON: {\"device_id\",\"token\",\"mqtt_password\"}\n(the hub keeps only hashes)."},
	"device rotate": {Usage: "mirror-cloud device rotate ID [--config FILE] [--set key=value]...",
		Summary: "Gives the mirror ID a new token and MQTT password and prints them once, as device add does; the\nold ones stop working, and the embedded broker closes a session opened with them within a second."},
	"device remove": {Usage: "mirror-cloud device remove ID [--config FILE] [--set key=value]...",
		Summary: "Removes the mirror ID: its token and MQTT password stop working, and the embedded broker closes its\nsession within a second. Its photos stay until their retention."},
	"operator": {Usage: "mirror-cloud operator add NAME --role viewer|operator|admin [--password-stdin] [--config FILE] [--set key=value]...\nmirror-cloud operator ls [--config FILE] [--set key=value]...\nmirror-cloud operator remove NAME [--config FILE] [--set key=value]...\nmirror-cloud operator passwd NAME [--password-stdin] [--config FILE] [--set key=value]...",
		Summary: "Manages the fleet console's operators (docs/console.md)."},
	"operator add": {Usage: "mirror-cloud operator add NAME --role viewer|operator|admin [--password-stdin] [--config FILE] [--set key=value]...",
		Summary: "Adds a console operator and prints a generated password once (or takes the first line of standard\ninput with --password-stdin). viewer sees the fleet, operator also sends commands, admin also reads\nthe audit log."},
	"operator ls": {Usage: "mirror-cloud operator ls [--config FILE] [--set key=value]...",
		Summary: "Lists the console operators with their roles."},
	"operator remove": {Usage: "mirror-cloud operator remove NAME [--config FILE] [--set key=value]...",
		Summary: "Removes a console operator; its sessions end at once."},
	"operator passwd": {Usage: "mirror-cloud operator passwd NAME [--password-stdin] [--config FILE] [--set key=value]...",
		Summary: "Gives a console operator a new password (printed once, or read from standard input); its sessions end."},
	"config": {Usage: "mirror-cloud config [--config FILE] [--set key=value]... [--keys]",
		Summary: "Prints the effective configuration as YAML (secrets hidden), or with --keys every key with its\ndefault and allowed values."},
	"check": {Usage: "mirror-cloud check [--config FILE] [--set key=value]...",
		Summary: "Tries every credential and URL of the configuration, one line each with what to do on failure.\nExits 0 only when all of them work. It runs with the service stopped or running."},
	"migrate": {Usage: "mirror-cloud migrate --to postgres://... [--config FILE] [--set key=value]...",
		Summary: "Moves the SQLite hub of state_dir (database and photo files) into PostgreSQL at --to (or\ndatabase.url): the step from one instance to replicas. Stop the hub first; it can run again."},
	"export": {Usage: "mirror-cloud export [--out FILE] [--config FILE] [--set key=value]...",
		Summary: "Writes the configured hub (SQLite in state_dir, or database.url) as JSON lines."},
	"import": {Usage: "mirror-cloud import FILE [--config FILE] [--set key=value]...",
		Summary: "Loads an export into the configured hub."},
	"release": {Usage: "mirror-cloud release add FILE.deb [--signature FILE.deb.minisig] [--config FILE] [--set key=value]...\nmirror-cloud release ls [--json] [--config FILE] [--set key=value]...",
		Summary: "Adds a signed software release for the mirrors, or lists the releases (docs/updates.md)."},
	"release add": {Usage: "mirror-cloud release add FILE.deb [--signature FILE.deb.minisig] [--config FILE] [--set key=value]...",
		Summary: "Checks the package's minisign signature against updates.public_keys, reads its version and\narchitecture, and stores it for the mirrors to fetch; refuses an unsigned, changed, duplicate or\nmalformed package with one line saying why."},
	"release ls": {Usage: "mirror-cloud release ls [--json] [--config FILE] [--set key=value]...",
		Summary: "Lists the stored releases, newest first."},
	"rollout": {Usage: "mirror-cloud rollout start VERSION [--devices ID,… | --group G | --all] [flags]\nmirror-cloud rollout status [ID] [--json]\nmirror-cloud rollout stop ID",
		Summary: "Starts, shows and stops software rollouts: a canary, then batches (docs/updates.md)."},
	"rollout start": {Usage: "mirror-cloud rollout start VERSION [--devices ID,… | --group G | --all] [--canary N] [--batch N] [--max-failures K | --max-failure-pct P] [--window HH:MM-HH:MM] [--config FILE] [--set key=value]...",
		Summary: "Starts a rollout of the release VERSION: the serving hub sends the canary, then each batch once the\none before it finished, and stops by itself past the failure threshold. It survives hub restarts;\nreplicas share it."},
	"rollout status": {Usage: "mirror-cloud rollout status [ID] [--json] [--config FILE] [--set key=value]...",
		Summary: "Lists the rollouts with their counts, or one rollout with every mirror's state and reason."},
	"rollout stop": {Usage: "mirror-cloud rollout stop ID [--config FILE] [--set key=value]...",
		Summary: "Stops a rollout at once (an emergency stop): no further command goes out."},
	"pin": {Usage: "mirror-cloud pin ID VERSION [--config FILE] [--set key=value]...\nmirror-cloud pin ID --clear [--config FILE] [--set key=value]...",
		Summary: "Pins the mirror ID to VERSION (rollouts of other versions skip it), or removes its pin."},
	"nats-auth": {Usage: "mirror-cloud nats-auth [--config nats-auth.yaml] [--set key=value]...",
		Summary: "Serves the NATS cluster's auth callout: mirrors log in with their ID and MQTT password."},
	"nats-auth init": {Usage: "mirror-cloud nats-auth init --dir DIR [--users-file FILE]",
		Summary: "Makes new keys and a password for the auth callout and writes fitmirror-auth.conf (for every\nnode's nats.conf) and nats-auth.yaml (the service's configuration, secret) into DIR."},
	"version": {Usage: "mirror-cloud version\nmirror-cloud --version", Summary: "Prints the version."},
	"help":    {Usage: "mirror-cloud help [COMMAND]\nmirror-cloud help --man", Summary: "Prints the usage of every command, or of one; --man prints the manual page."},
}

// cmdOrder is the commands in the order the usage and the man page list them.
var cmdOrder = []string{"serve", "device add", "device rotate", "device remove", "operator add", "operator ls", "operator remove", "operator passwd", "config", "check", "migrate", "export", "import", "release add", "release ls", "rollout start", "rollout status", "rollout stop", "pin", "nats-auth", "nats-auth init", "version", "help"}

// usage lists every command's usage lines.
func usage() string {
	var b strings.Builder
	b.WriteString("usage:\n")
	for _, c := range cmdOrder {
		for _, l := range strings.Split(helps[c].Usage, "\n") {
			b.WriteString("  " + l + "\n")
		}
	}
	b.WriteString("\nmirror-cloud COMMAND -h prints the usage and flags of one command.\n")
	return b.String()
}

// device runs "device add ID", "device rotate ID" and "device remove ID" (the ID before or after the flags).
func device(ctx context.Context, cmd string, fs *flag.FlagSet, args []string, file *string, sets *cli.SetFlags, stdout, stderr io.Writer) error {
	id, err := positional(fs, args, "device ID", stdout) // before or after the flags
	if err != nil {
		return err
	}
	cfg, _, err := load(*file, *sets, stderr)
	if err != nil {
		return err
	}
	switch cmd {
	case "device rotate":
		return deviceRotate(ctx, cfg, id, stdout)
	case "device remove":
		return deviceRemove(ctx, cfg, id, stdout)
	}
	return deviceAdd(ctx, cfg, id, stdout)
}

// subcommands are the commands of the command groups.
var subcommands = map[string]struct {
	subs []string
	want string
}{
	"device":   {[]string{"add", "rotate", "remove"}, `"device add ID", "device rotate ID" or "device remove ID"`},
	"operator": {[]string{"add", "ls", "remove", "passwd"}, `"operator add NAME --role R", "operator ls", "operator remove NAME" or "operator passwd NAME"`},
	"release":  {[]string{"add", "ls"}, `"release add FILE.deb" or "release ls"`},
	"rollout":  {[]string{"start", "status", "stop"}, `"rollout start VERSION", "rollout status" or "rollout stop ID"`},
}

// subcommand takes the subcommand of group ("device add"…) off args; done: it printed the
// group's help.
func subcommand(group string, args []string, stdout, stderr io.Writer) (string, []string, bool, error) {
	if len(args) > 0 && cli.IsHelp(args[0]) {
		cli.WriteHelp(stdout, flag.NewFlagSet("", flag.ContinueOnError), helps[group])
		return "", nil, true, nil
	}
	g := subcommands[group]
	if len(args) == 0 || !slices.Contains(g.subs, args[0]) {
		fmt.Fprintf(stderr, "mirror-cloud %s: want %s\n%s", group, g.want, usage())
		return "", nil, false, errUsage
	}
	return group + " " + args[0], args[1:], false, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return errUsage
	}
	cmd, args := args[0], args[1:]
	switch {
	case cli.IsHelp(cmd):
		fmt.Fprint(stdout, usage())
		return nil
	case cli.IsVersion(cmd):
		fmt.Fprintln(stdout, cloudVersion())
		return nil
	case cmd == "nats-auth": // its own configuration: the NATS cluster's auth callout service
		return natsAuth(ctx, args, stdout, stderr)
	case cmd == "device" || cmd == "operator" || cmd == "release" || cmd == "rollout":
		var done bool
		var err error
		if cmd, args, done, err = subcommand(cmd, args, stdout, stderr); done || err != nil {
			return err
		}
	}
	h, ok := helps[cmd]
	if !ok {
		fmt.Fprintf(stderr, "mirror-cloud: unknown command %q\n%s", cmd, usage())
		return errUsage
	}
	fs := cli.NewFlagSet("mirror-cloud "+cmd, h, stderr)
	if cmd == "version" || cmd == "help" {
		return runInfo(cmd, fs, args, stdout)
	}
	file := fs.String("config", "", "YAML configuration `file` (default: embedded defaults)")
	var sets cli.SetFlags
	fs.Var(&sets, "set", "override one key, e.g. --set listen=127.0.0.1:8090 (repeatable)")
	parse := func() error { return cli.Parse(fs, args, 0, stdout) }
	loaded := func() (*Config, error) {
		cfg, _, err := load(*file, sets, stderr)
		return cfg, err
	}
	switch cmd {
	case "serve":
		if err := parse(); err != nil {
			return err
		}
		cfg, log, err := load(*file, sets, stderr)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, log)
	case "device add", "device rotate", "device remove":
		return device(ctx, cmd, fs, args, file, &sets, stdout, stderr)
	case "release add", "release ls":
		return release(ctx, cmd, fs, args, file, &sets, stdout, stderr)
	case "rollout start", "rollout status", "rollout stop", "pin":
		return rolloutCmd(ctx, cmd, fs, args, file, &sets, stdout, stderr)
	case "operator add", "operator ls", "operator remove", "operator passwd":
		return operator(ctx, cmd, fs, args, file, &sets, stdout, stderr)
	case "config":
		keys := fs.Bool("keys", false, "print every key with its default and allowed values (Markdown)")
		if err := parse(); err != nil {
			return err
		}
		if *keys {
			fmt.Fprint(stdout, config.Markdown(docDefaults()))
			return nil
		}
		cfg, err := loaded()
		if err != nil {
			return err
		}
		return yaml.NewEncoder(stdout).Encode(config.Redact(config.Effective(cfg)))
	case "check":
		if err := parse(); err != nil {
			return err
		}
		cfg, err := loaded()
		if err != nil {
			return err
		}
		return check(ctx, cfg, stdout, checkOptions{})
	case "migrate":
		to := fs.String("to", "", "PostgreSQL `url` to move the SQLite hub of state_dir into (default: database.url)")
		if err := parse(); err != nil {
			return err
		}
		cfg, err := loaded()
		if err != nil {
			return err
		}
		return migrate(ctx, cfg, *to, stdout)
	case "export":
		out := fs.String("out", "", "write the export to this `file` (default: standard output)")
		if err := parse(); err != nil {
			return err
		}
		cfg, err := loaded()
		if err != nil {
			return err
		}
		return export(ctx, cfg, *out, stdout, stderr)
	default: // import
		path, err := positional(fs, args, "export file", stdout)
		if err != nil {
			return err
		}
		cfg, err := loaded()
		if err != nil {
			return err
		}
		return importFile(ctx, cfg, path, stdout)
	}
}

// runInfo runs the commands about the program itself: version and help.
func runInfo(cmd string, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	if cmd == "version" {
		if err := cli.Parse(fs, args, 0, stdout); err != nil {
			return err
		}
		fmt.Fprintln(stdout, cloudVersion())
		return nil
	}
	man := fs.Bool("man", false, "print the manual page (roff), generated from the commands' flags")
	if err := cli.Parse(fs, args, 2, stdout); err != nil {
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
	case fs.NArg() > 0:
		name := strings.Join(fs.Args(), " ")
		if _, ok := helps[name]; !ok {
			fmt.Fprintf(fs.Output(), "mirror-cloud help: unknown command %q\n", name)
			return errUsage
		}
		return run(context.Background(), append(fs.Args(), "-h"), stdout, io.Discard)
	default:
		fmt.Fprint(stdout, usage())
		return nil
	}
}

// manPage is mirror-cloud(1), from every command's -h (make man writes it to docs/man/).
func manPage() (string, error) {
	p := cli.Page{Name: "mirror-cloud", Summary: "the fitmirror hub",
		Description: `mirror-cloud is the hub of a fleet of fitting mirrors: it issues the QR codes the mirrors show,
receives WeChat's subscribe and SCAN pushes, gets the photo to the shopper and reports the binding to
the mirror over MQTT.

With no configuration it serves in sim mode (the built-in WeChat simulator) with an embedded MQTT
broker and SQLite in ./state. The configuration is a YAML file (--config) with dotted keys that
--set overrides; mirror-cloud config --keys lists every key with its default.`,
		Exit:    "0 done; 1 an error, written as one line on standard error; 2 a usage mistake.",
		SeeAlso: "mirror-agent(1), mirrorctl(1)"}
	run := func(args []string, stdout, stderr io.Writer) error {
		return run(context.Background(), args, stdout, stderr)
	}
	for _, c := range cmdOrder {
		sec, err := cli.CommandHelp(run, strings.Fields(c)...)
		if err != nil {
			return "", err
		}
		p.Commands = append(p.Commands, sec)
	}
	return p.Roff(), nil
}

// positional parses args with exactly one positional argument (what), before or after the flags.
func positional(fs *flag.FlagSet, args []string, what string, stdout io.Writer) (string, error) {
	var v string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		v, args = args[0], args[1:]
	}
	if err := cli.Parse(fs, args, 1, stdout); err != nil {
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

func parse(fs *flag.FlagSet, args []string, nargs int, stdout io.Writer) error {
	return cli.Parse(fs, args, nargs, stdout)
}

func load(file string, sets []string, stderr io.Writer) (*Config, *slog.Logger, error) {
	cfg := defaultConfig()
	if err := config.Load(&cfg, file, sets); err != nil {
		return nil, nil, err
	}
	return &cfg, newLogger(cfg.Log, stderr), nil
}

func newLogger(c LogConfig, w io.Writer) *slog.Logger { return cli.NewLogger(c.Level, c.Format, w) }
