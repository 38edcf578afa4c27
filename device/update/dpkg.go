package update

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Packages is what the updater asks of dpkg. [Dpkg] runs the real tools; tests give it a
// throwaway root.
type Packages interface {
	// Installed is the installed version of pkg ("" when it is not installed).
	Installed(ctx context.Context, pkg string) (string, error)
	// Control reads a .deb's Package, Version and Architecture.
	Control(ctx context.Context, deb string) (Control, error)
	// ConfigurePending finishes what an interrupted dpkg left (dpkg --configure -a).
	ConfigurePending(ctx context.Context) error
	// Unpack unpacks a .deb (dpkg --unpack); Configure configures the unpacked package.
	Unpack(ctx context.Context, deb string) error
	Configure(ctx context.Context, pkg string) error
	// Repack rebuilds the installed pkg as a .deb in dir (dpkg-repack) and returns its path.
	Repack(ctx context.Context, pkg, dir string) (string, error)
	// Architecture is the architecture dpkg installs (dpkg --print-architecture).
	Architecture(ctx context.Context) (string, error)
}

// Control is the part of a package's control file the updater reads.
type Control struct {
	Package, Version, Architecture string
}

// Dpkg runs dpkg, dpkg-deb, dpkg-query and dpkg-repack. Root "" is the system; another root
// is a throwaway installation (dpkg --root).
type Dpkg struct {
	Root string
}

func (d Dpkg) run(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	// dpkg and its maintainer scripts want a PATH with the sbin directories.
	cmd.Env = append(os.Environ(), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND=noninteractive")
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 && len(msg) > 400 {
			msg = msg[i+1:]
		}
		return out.String(), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, msg)
	}
	return out.String(), nil
}

func (d Dpkg) rootArgs(args ...string) []string {
	if d.Root == "" {
		return args
	}
	root := []string{"--root=" + d.Root}
	if os.Geteuid() != 0 { // a throwaway root of one's own (tests run as a user)
		root = append(root, "--force-not-root")
	}
	return append(root, args...)
}

func (d Dpkg) Installed(ctx context.Context, pkg string) (string, error) {
	args := []string{"-W", "-f", "${db:Status-Status}\t${Version}", pkg}
	if d.Root != "" {
		args = append([]string{"--admindir=" + filepath.Join(d.Root, "var/lib/dpkg")}, args...)
	}
	out, err := d.run(ctx, "", "dpkg-query", args...)
	if err != nil {
		if strings.Contains(err.Error(), "no packages found") || strings.Contains(err.Error(), "exit status 1") {
			return "", nil
		}
		return "", err
	}
	status, version, _ := strings.Cut(strings.TrimSpace(out), "\t")
	if status != "installed" {
		return "", nil
	}
	return version, nil
}

func (d Dpkg) Control(ctx context.Context, deb string) (Control, error) {
	out, err := d.run(ctx, "", "dpkg-deb", "-f", deb, "Package", "Version", "Architecture")
	if err != nil {
		return Control{}, fmt.Errorf("not a Debian package: %w", err)
	}
	var c Control
	for _, l := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(l, ":")
		v = strings.TrimSpace(v)
		switch k {
		case "Package":
			c.Package = v
		case "Version":
			c.Version = v
		case "Architecture":
			c.Architecture = v
		}
	}
	if c.Package == "" || c.Version == "" || c.Architecture == "" {
		return c, fmt.Errorf("not a Debian package: its control file lacks Package, Version or Architecture")
	}
	return c, nil
}

func (d Dpkg) ConfigurePending(ctx context.Context) error {
	_, err := d.run(ctx, "", "dpkg", d.rootArgs("--force-confdef", "--force-confold", "--configure", "-a")...)
	return err
}

func (d Dpkg) Unpack(ctx context.Context, deb string) error {
	_, err := d.run(ctx, "", "dpkg", d.rootArgs("--force-confdef", "--force-confold", "--unpack", deb)...)
	return err
}

func (d Dpkg) Configure(ctx context.Context, pkg string) error {
	_, err := d.run(ctx, "", "dpkg", d.rootArgs("--force-confdef", "--force-confold", "--configure", pkg)...)
	return err
}

func (d Dpkg) Repack(ctx context.Context, pkg, dir string) (string, error) {
	before, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
	for _, f := range before {
		os.Remove(f)
	}
	args := []string{pkg}
	if d.Root != "" {
		args = []string{"--root=" + d.Root, pkg}
	}
	if _, err := d.run(ctx, dir, "dpkg-repack", args...); err != nil {
		return "", err
	}
	after, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
	if len(after) != 1 {
		return "", fmt.Errorf("dpkg-repack %s: made %d packages in %s, want 1", pkg, len(after), dir)
	}
	return after[0], nil
}

func (d Dpkg) Architecture(ctx context.Context) (string, error) {
	out, err := d.run(ctx, "", "dpkg", "--print-architecture")
	return strings.TrimSpace(out), err
}
