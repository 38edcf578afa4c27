package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fitmirror/fitmirror/cloud/console"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
	"github.com/fitmirror/fitmirror/cmd/internal/cli"
)

// stdin is where --password-stdin reads (tests replace it).
var stdin io.Reader = os.Stdin

// operator runs "operator add NAME --role R", "operator ls", "operator remove NAME" and
// "operator passwd NAME": the fleet console's accounts, in the hub's database.
func operator(ctx context.Context, cmd string, fs *flag.FlagSet, args []string, file *string, sets *cli.SetFlags, stdout, stderr io.Writer) error {
	role := fs.String("role", "", "the operator's `role`: viewer (sees the fleet), operator (and sends commands), admin (and reads the audit log)")
	fromStdin := false
	if cmd == "operator add" || cmd == "operator passwd" {
		fs.BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of standard input instead of generating one")
	}
	var name string
	var err error
	if cmd == "operator ls" {
		err = cli.Parse(fs, args, 0, stdout)
	} else {
		name, err = positional(fs, args, "operator name", stdout)
	}
	if err != nil {
		return err
	}
	if cmd != "operator add" && *role != "" {
		fmt.Fprintf(stderr, "%s: --role is for operator add\n", fs.Name())
		return errUsage
	}
	cfg, _, err := load(*file, *sets, stderr)
	if err != nil {
		return err
	}
	var pw string
	if fromStdin {
		if pw, err = readPassword(stdin); err != nil {
			return err
		}
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	cs, ok := st.Store.(hubstore.ConsoleStore)
	if !ok {
		return errors.New("operator: this store keeps no operators")
	}
	return operatorRun(ctx, cs, cmd, name, *role, pw, fromStdin, stdout)
}

func operatorRun(ctx context.Context, cs hubstore.ConsoleStore, cmd, name, role, pw string, fromStdin bool, stdout io.Writer) error {
	switch cmd {
	case "operator ls":
		ops, err := cs.Operators(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tCREATED")
		for _, o := range ops {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", o.Name, o.Role, o.CreatedAt.UTC().Format(time.RFC3339))
		}
		return tw.Flush()
	case "operator remove":
		if err := cs.RemoveOperator(ctx, name); err != nil {
			if errors.Is(err, hubstore.ErrNotFound) {
				return fmt.Errorf("operator remove: no operator %q", name)
			}
			return err
		}
		fmt.Fprintf(stdout, "removed operator %s: its sessions ended\n", name)
		return nil
	case "operator passwd":
		got, err := console.SetPassword(ctx, cs, name, pw)
		if err != nil {
			return fmt.Errorf("operator passwd: %w", err)
		}
		printPassword(stdout, name, got, fromStdin, "new password; its sessions ended")
		return nil
	}
	if role == "" {
		return errors.New("operator add: --role is required (viewer, operator or admin)")
	}
	got, err := console.AddOperator(ctx, cs, name, role, pw, time.Now())
	if err != nil {
		return fmt.Errorf("operator add: %w", err)
	}
	printPassword(stdout, name, got, fromStdin, "added as "+role)
	return nil
}

// printPassword says what was done and, when the password was generated, prints it once.
func printPassword(stdout io.Writer, name, pw string, fromStdin bool, what string) {
	if fromStdin {
		fmt.Fprintf(stdout, "operator %s: %s (the password from standard input)\n", name, what)
		return
	}
	fmt.Fprintf(stdout, "operator %s: %s\npassword: %s\n(shown once: the hub keeps only a bcrypt hash)\n", name, what, pw)
}

// readPassword reads the first line of r.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("--password-stdin: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("--password-stdin: standard input has no password")
	}
	return line, nil
}
