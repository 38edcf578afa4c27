package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cmd/internal/cli"
	"github.com/fitmirror/fitmirror/internal/debpkg"
)

// releasePackage is the package name every release must carry.
const releasePackage = "fitmirror-agent"

// release runs "release add FILE.deb [--signature FILE.deb.minisig]" and "release ls [--json]".
func release(ctx context.Context, cmd string, fs *flag.FlagSet, args []string, file *string, sets *cli.SetFlags, stdout, stderr io.Writer) error {
	if cmd == "release ls" {
		asJSON := fs.Bool("json", false, "print the releases as JSON lines")
		if err := cli.Parse(fs, args, 0, stdout); err != nil {
			return err
		}
		cfg, _, err := load(*file, *sets, stderr)
		if err != nil {
			return err
		}
		return releaseList(ctx, cfg, *asJSON, stdout)
	}
	sig := fs.String("signature", "", "the minisign signature `file` (default: FILE.deb.minisig)")
	path, err := positional(fs, args, "package file", stdout)
	if err != nil {
		return err
	}
	cfg, _, err := load(*file, *sets, stderr)
	if err != nil {
		return err
	}
	if *sig == "" {
		*sig = path + ".minisig"
	}
	return releaseAdd(ctx, cfg, path, *sig, stdout)
}

func releaseAdd(ctx context.Context, cfg *Config, path, sigPath string, stdout io.Writer) error {
	keys, err := debpkg.ParseKeys(cfg.Updates.PublicKeys)
	if err != nil {
		return fmt.Errorf("updates.public_keys: %w", err)
	}
	sig, err := os.ReadFile(sigPath)
	if err != nil {
		return fmt.Errorf("signature: %w (sign the package with: minisign -Sm %s)", err, path)
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	rel, err := hub.AddRelease(ctx, st.releases, st.files, path, string(sig), hub.AddReleaseOptions{Keys: keys, Package: releasePackage})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "added %s %s (%s): %s, sha256 %s, signed by key %s; mirrors fetch it at %s\n",
		rel.Package, rel.Version, rel.Arch, megabytes(rel.Size), rel.SHA256, rel.KeyID, hub.ReleasePath(rel.Version, rel.Arch))
	return nil
}

func releaseList(ctx context.Context, cfg *Config, asJSON bool, stdout io.Writer) error {
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	list, err := st.releases.Releases(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		for _, r := range list {
			enc.Encode(map[string]any{"version": r.Version, "arch": r.Arch, "package": r.Package, "size": r.Size,
				"sha256": r.SHA256, "key_id": r.KeyID, "added": r.CreatedAt.Format(time.RFC3339Nano), "path": hub.ReleasePath(r.Version, r.Arch)})
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tARCH\tSIZE\tSHA256\tKEY\tADDED")
	for _, r := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s…\t%s\t%s\n", r.Version, r.Arch, megabytes(r.Size), r.SHA256[:12], r.KeyID, r.CreatedAt.Local().Format("2006-01-02 15:04"))
	}
	return tw.Flush()
}

// megabytes formats a size for people: 31.2 MB.
func megabytes(n int64) string {
	if n < 1_000_000 {
		return fmt.Sprintf("%.1f kB", float64(n)/1000)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1_000_000)
}
