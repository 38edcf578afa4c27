package update

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/fitmirror/fitmirror/internal/wire"
)

// Run follows the journal until ctx ends, the agent's side of an update: on start it
// relaunches an installer that a power cut or a SIGKILL stopped; it starts the installer for
// a verified release once no shopper is at the mirror and the window is open; as the new
// version it commits once the health tracker reports every part ok; and it reports the
// outcome (update.committed, update.rolled_back) and clears the update's files.
func (u *Updater) Run(ctx context.Context) error {
	t := time.NewTicker(u.opts.Poll)
	defer t.Stop()
	for {
		if err := u.Follow(ctx); err != nil {
			u.log.Warn("update: journal", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Follow looks at the journal once and does what its step asks of the agent.
func (u *Updater) Follow(ctx context.Context) error {
	u.mu.Lock()
	boot, active := !u.booted, u.active
	if !active {
		u.booted = true
	}
	u.mu.Unlock()
	if active { // the update command is downloading and verifying: it writes the journal
		return nil
	}
	j, err := u.st.read()
	if err != nil || j == nil {
		return err
	}
	if !j.Terminal() {
		u.opts.SetTarget(j.Version)
	}
	switch j.Step {
	case StepDownloaded: // cut short before it was verified: start again with a new command
		u.st.clear()
		u.opts.SetTarget("")
		u.refuse(j.Version, fmt.Errorf("the agent stopped before the release was verified; nothing was installed"))
	case StepVerified:
		if _, err := os.Stat(u.st.path("apply")); err == nil {
			if !boot || u.installerRunning() {
				return nil // the installer has it
			}
			// Stopped before it kept the backup: nothing is installed, so the update lock and
			// the window are asked again.
			os.Remove(u.st.path("apply"))
		}
		return u.launchWhenFree(ctx, j)
	case StepBackupKept, StepInstalling, StepRollingBack:
		return u.relaunch(ctx, j, boot)
	case StepInstalled:
		if err := u.relaunch(ctx, j, boot); err != nil {
			return err
		}
		if j.Version == u.running {
			return u.healthGate(j)
		}
	case StepCommitted:
		u.report(j, wire.EventUpdateCommitted, OutcomeCommitted, "new.deb")
	case StepRolledBack:
		if j.Backup == "" { // stopped before anything was installed (no backup could be kept)
			u.st.clear()
			u.opts.SetTarget("")
			u.refuse(j.Version, errors.New(j.Reason))
			return nil
		}
		u.report(j, wire.EventUpdateRolledBack, OutcomeRolledBack, "backup.deb")
	}
	return nil
}

// launchWhenFree starts the installer once no shopper is at the mirror and the window is
// open (the update lock). The journal notes the launch first (update.installing is said once).
func (u *Updater) launchWhenFree(ctx context.Context, j *Journal) error {
	if u.opts.Busy(ctx) || !u.opts.Window.Contains(u.opts.Now()) {
		return nil
	}
	if !j.Launched {
		if _, ok, err := u.st.step(StepVerified, func(j *Journal) { j.Launched = true }, StepVerified); err != nil || !ok {
			return err
		}
		u.opts.Record(wire.EventUpdateInstalling, wire.Update{Version: j.Version, From: j.From})
	}
	if err := writeSync(u.st.path("apply"), []byte(j.Version+"\n")); err != nil {
		return fmt.Errorf("update: start the installer: %w", err)
	}
	u.log.Info("update: installing", "version", j.Version, "from", j.From)
	return u.opts.Launch(ctx)
}

// installerRunning reports whether an installer holds its lock.
func (u *Updater) installerRunning() bool {
	release, free, err := u.st.lock("apply.lock", false)
	if err != nil {
		return true // cannot tell: do not start a second one
	}
	if free {
		release()
	}
	return !free
}

// relaunch starts the installer again at the first look after a start when it is not
// running (a power cut or a SIGKILL stopped it); it begins with dpkg --configure -a.
func (u *Updater) relaunch(ctx context.Context, j *Journal, boot bool) error {
	if !boot || u.installerRunning() {
		return nil
	}
	u.log.Warn("update: the installer was stopped: starting it again", "version", j.Version, "step", j.Step)
	if err := writeSync(u.st.path("apply"), []byte(j.Version+"\n")); err != nil {
		return fmt.Errorf("update: start the installer: %w", err)
	}
	return u.opts.Launch(ctx)
}

// healthGate commits the running new version once every part has been ok for HealthyFor;
// otherwise it notes what is wrong in the journal for the rollback's reason.
func (u *Updater) healthGate(j *Journal) error {
	ok, reason := true, ""
	if u.opts.Healthy != nil {
		ok, reason = u.opts.Healthy()
	}
	now := u.opts.Now()
	u.mu.Lock()
	switch {
	case !ok:
		u.okSince = time.Time{}
	case u.okSince.IsZero():
		u.okSince = now
	}
	since := u.okSince
	u.mu.Unlock()
	if ok && now.Sub(since) < u.opts.HealthyFor {
		return nil
	}
	if !ok {
		if reason != j.Health {
			_, _, err := u.st.step(StepInstalled, func(j *Journal) { j.Health = reason }, StepInstalled)
			return err
		}
		return nil
	}
	_, done, err := u.st.step(StepCommitted, func(j *Journal) { j.Health = "" }, StepInstalled)
	if err != nil || !done {
		return err
	}
	u.log.Info("update: the new version is healthy: committed", "version", j.Version, "from", j.From, "after", now.Sub(j.Deadline.Add(-j.HealthTimeout)).Round(time.Millisecond))
	return nil
}

// report records the outcome, keeps the running version's .deb (keep) as the cache for the
// next backup, and clears the update.
func (u *Updater) report(j *Journal, event string, outcome int, keep string) {
	u.counts[outcome].Add(1)
	u.opts.Record(event, wire.Update{Version: j.Version, From: j.From, Reason: j.Reason})
	if event == wire.EventUpdateRolledBack {
		u.log.Warn("update rolled back", "version", j.Version, "from", j.From, "reason", j.Reason)
	} else {
		u.log.Info("update committed", "version", j.Version, "from", j.From)
	}
	if _, err := os.Stat(u.st.path(keep)); err == nil {
		os.Rename(u.st.path(keep), u.st.path("current.deb"))
	}
	u.st.clear()
	u.opts.SetTarget("")
}
