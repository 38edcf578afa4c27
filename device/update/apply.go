package update

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"
)

// ApplyOptions are the installer's settings.
type ApplyOptions struct {
	Dir    string // the update directory, <state_dir>/update
	Dpkg   Packages
	Poll   time.Duration // how often it looks for the commit; default 1s
	Now    func() time.Time
	Logger *slog.Logger
	// Hook, when set, is called once the installer has its lock ("started"), after each
	// journal step is written, and between dpkg's unpack and configure ("unpacked",
	// "backup_unpacked"): the tests kill the installer there.
	Hook func(point string)
}

// Apply is the installer (mirror-agent update-apply, the fitmirror-update unit): it keeps
// the running version's package, installs the verified release with dpkg, waits for the new
// agent to commit it until the journal's deadline, and otherwise reinstalls the backup. It
// starts with dpkg --configure -a when the journal shows an unfinished dpkg run, and carries
// on from whatever step the journal is at. Only one runs at a time (a lock); another returns
// at once.
func Apply(ctx context.Context, o ApplyOptions) error {
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Hook == nil {
		o.Hook = func(string) {}
	}
	st := store{o.Dir}
	release, ok, err := st.lock("apply.lock", false)
	if err != nil || !ok {
		return err
	}
	defer release()
	o.Hook("started")
	a := applier{o: o, st: st}
	for {
		j, err := st.read()
		if err != nil {
			return err
		}
		if j == nil || j.Terminal() || j.Step == StepDownloaded {
			os.Remove(st.path("apply"))
			return nil
		}
		if err := a.step(ctx, j); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

type applier struct {
	o  ApplyOptions
	st store
}

// step does the work of one journal step and writes the next.
func (a applier) step(ctx context.Context, j *Journal) error {
	switch j.Step {
	case StepVerified:
		backup, err := a.backup(ctx, j)
		if err != nil {
			return a.to(StepRolledBack, j, fmt.Sprintf("no backup of %s could be kept, nothing was installed: %v", j.From, err), nil)
		}
		return a.to(StepBackupKept, j, "", func(j *Journal) { j.Backup = backup })
	case StepBackupKept:
		return a.to(StepInstalling, j, "", nil)
	case StepInstalling:
		if err := a.install(ctx, j.Deb, j.Package, "unpacked"); err != nil {
			return a.to(StepRollingBack, j, fmt.Sprintf("the install of %s failed: %v", j.Version, err), nil)
		}
		deadline := a.o.Now().Add(j.HealthTimeout)
		a.o.Logger.Info("update installed: waiting for the new agent to report healthy", "version", j.Version, "until", deadline)
		return a.to(StepInstalled, j, "", func(j *Journal) { j.Deadline = deadline })
	case StepInstalled:
		if a.o.Now().Before(j.Deadline) {
			select {
			case <-ctx.Done():
			case <-time.After(a.o.Poll):
			}
			return nil
		}
		reason := fmt.Sprintf("%s did not report healthy within %s", j.Version, j.HealthTimeout)
		if j.Health != "" {
			reason += ": " + j.Health
		} else {
			reason += " (it did not report at all)"
		}
		return a.to(StepRollingBack, j, reason, nil)
	case StepRollingBack:
		if err := a.install(ctx, j.Backup, j.Package, "backup_unpacked"); err != nil {
			return fmt.Errorf("update: the rollback to %s failed (the next start tries again): %w", j.From, err)
		}
		return a.to(StepRolledBack, j, j.Reason, nil)
	}
	return fmt.Errorf("update: journal step %q unknown", j.Step)
}

// to moves the journal on from j's step; a reason, when given, is the rollback's.
func (a applier) to(next string, j *Journal, reason string, set func(*Journal)) error {
	_, ok, err := a.st.step(next, func(n *Journal) {
		if reason != "" {
			n.Reason = reason
		}
		if set != nil {
			set(n)
		}
	}, j.Step)
	if err != nil {
		return err
	}
	if ok {
		a.o.Logger.Info("update step", "step", next, "version", j.Version, "reason", reason)
		a.o.Hook(next)
	}
	return nil
}

// install finishes any interrupted dpkg run, then unpacks and configures deb.
func (a applier) install(ctx context.Context, deb, pkg, point string) error {
	if err := a.o.Dpkg.ConfigurePending(ctx); err != nil {
		return err
	}
	if deb == "" {
		return fmt.Errorf("no package to install")
	}
	if err := a.o.Dpkg.Unpack(ctx, deb); err != nil {
		return err
	}
	a.o.Hook(point)
	return a.o.Dpkg.Configure(ctx, pkg)
}

// backup keeps the running version's .deb as backup.deb: the cached package of the last
// update when it is that version, else one rebuilt from the installed files (dpkg-repack).
func (a applier) backup(ctx context.Context, j *Journal) (string, error) {
	dst := a.st.path("backup.deb")
	cur := a.st.path("current.deb")
	if c, err := a.o.Dpkg.Control(ctx, cur); err == nil && c.Package == j.Package && c.Version == j.From {
		if err := copyFile(cur, dst); err != nil {
			return "", err
		}
		return dst, nil
	}
	tmp := a.st.path("repack")
	os.RemoveAll(tmp)
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	deb, err := a.o.Dpkg.Repack(ctx, j.Package, tmp)
	if err != nil {
		return "", err
	}
	if err := os.Rename(deb, dst); err != nil {
		return "", err
	}
	a.st.own(dst)
	return dst, syncDir(a.st.dir)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst+".tmp", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(dst+".tmp", dst)
}
