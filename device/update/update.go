// Package update is the mirror's side of a remote software update (docs/updates.md): the
// fleet's update command downloads a signed release of the agent's Debian package from the
// hub, checks its size, sha256 and minisign signature before anything touches dpkg, waits
// while a shopper is at the mirror and for the maintenance window, and hands the install to
// a separate unit (mirror-agent update-apply, started by fitmirror-update.path), because the
// package's own scripts restart the agent. The new version must report healthy within
// update.health_timeout or the previous package is reinstalled.
//
// Every step is written to a journal first ([Journal]); after a power cut or a SIGKILL at
// any step, the next start finishes the commit or the rollback from it. The promise: after
// any fault the mirror runs either the old version or a new version that proved healthy.
package update

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"aead.dev/minisign"

	"github.com/fitmirror/fitmirror/internal/debpkg"
	"github.com/fitmirror/fitmirror/internal/window"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// Options are the updater's parts and settings.
type Options struct {
	Dir           string               // the update directory, <state_dir>/update
	HubURL        string               // cloud.hub_url: releases come from here only
	Token         string               // cloud.token, the device's bearer token
	Keys          []minisign.PublicKey // update.public_keys
	HealthTimeout time.Duration        // update.health_timeout
	Window        window.Window        // update.window; the zero Window is any time
	Package       string               // the agent's Debian package; default fitmirror-agent
	Arch          string               // this machine's Debian architecture; default dpkg's
	Dpkg          Packages

	// Launch starts the installer unit (mirror-agent update-apply): in production it makes
	// the file fitmirror-update.path watches. Tests run the installer themselves.
	Launch func(ctx context.Context) error
	// Busy reports whether a shopper is at the mirror (a session is open): no update then.
	Busy func(ctx context.Context) bool
	// Healthy reports whether every part of the mirror works (the health tracker), and what
	// is wrong otherwise.
	Healthy func() (ok bool, reason string)
	// Record records an update.* event; SetTarget publishes the version being installed in
	// the status ("" when none is).
	Record    func(typ string, data wire.Update)
	SetTarget func(version string)

	HTTPClient *http.Client
	Attempts   int           // download attempts (resumed); default 5
	RetryAfter time.Duration // between them; default 2s
	Poll       time.Duration // how often waits look again; default 1s
	// HealthyFor is how long the new version must stay healthy before it is committed
	// (within update.health_timeout); default 10s.
	HealthyFor time.Duration
	Now        func() time.Time
	Logger     *slog.Logger
}

// Updater runs the update command and, on every start, finishes what the journal says.
type Updater struct {
	opts    Options
	st      store
	log     *slog.Logger
	hub     *url.URL
	running string // the package version this process was started from

	mu       sync.Mutex
	active   bool      // an update command is being downloaded and verified
	launched string    // the version whose installer this process started
	booted   bool      // the first look at the journal since start is done
	okSince  time.Time // the new version has been healthy since (zero: it is not)

	counts [nOutcomes]atomic.Int64
}

// Outcomes counted by [Updater.Outcomes].
const (
	OutcomeCommitted = iota
	OutcomeRolledBack
	OutcomeRefused
	nOutcomes
)

// OutcomeNames are the outcomes' metric labels.
var OutcomeNames = [nOutcomes]string{"committed", "rolled_back", "refused"}

// Outcomes returns how many updates were committed, rolled back and refused since start.
func (u *Updater) Outcomes() [nOutcomes]int64 {
	var out [nOutcomes]int64
	for i := range out {
		out[i] = u.counts[i].Load()
	}
	return out
}

// New checks the options and reads the running package's version from dpkg.
func New(ctx context.Context, o Options) (*Updater, error) {
	if o.Package == "" {
		o.Package = "fitmirror-agent"
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Minute}
	}
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = 2 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.HealthyFor <= 0 {
		o.HealthyFor = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Record == nil {
		o.Record = func(string, wire.Update) {}
	}
	if o.SetTarget == nil {
		o.SetTarget = func(string) {}
	}
	if o.Busy == nil {
		o.Busy = func(context.Context) bool { return false }
	}
	u := &Updater{opts: o, st: store{o.Dir}, log: o.Logger}
	if o.HubURL != "" {
		h, err := url.Parse(o.HubURL)
		if err != nil || h.Host == "" {
			return nil, fmt.Errorf("update: cloud.hub_url %q is not a URL", o.HubURL)
		}
		u.hub = h
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	v, err := o.Dpkg.Installed(ctx, o.Package)
	if err != nil {
		return nil, fmt.Errorf("update: the running version: %w", err)
	}
	u.running = v
	if u.opts.Arch == "" {
		if u.opts.Arch, err = o.Dpkg.Architecture(ctx); err != nil {
			return nil, fmt.Errorf("update: the architecture: %w", err)
		}
	}
	return u, nil
}

// Running is the version of the package this process was started from ("" when the agent
// does not run from an installed package).
func (u *Updater) Running() string { return u.running }

// refuse records update.refused and returns err.
func (u *Updater) refuse(version string, err error) error {
	u.counts[OutcomeRefused].Add(1)
	u.opts.Record(wire.EventUpdateRefused, wire.Update{Version: version, From: u.running, Reason: reasonOf(err)})
	u.log.Warn("update refused", "version", version, "from", u.running, "err", err)
	return err
}

func reasonOf(err error) string {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Message
	}
	return err.Error()
}

// checkArgs validates the command's arguments (bad_args naming the field) and returns the
// release's URL on the hub.
func (u *Updater) checkArgs(a wire.UpdateArgs) (string, error) {
	switch {
	case a.Version == "":
		return "", wire.BadArgs("version: required")
	case debpkg.ValidVersion(a.Version) != nil:
		return "", wire.BadArgs("version: %q is not a Debian version", a.Version)
	case a.URL == "":
		return "", wire.BadArgs("url: required (the hub's /v1/releases/{version}/{arch})")
	case a.SHA256 == "":
		return "", wire.BadArgs("sha256: required")
	case a.Size <= 0:
		return "", wire.BadArgs("size: required, the release's bytes (got %d)", a.Size)
	case a.Signature == "":
		return "", wire.BadArgs("signature: required (the text of the .minisig file)")
	}
	if b, err := hex.DecodeString(a.SHA256); err != nil || len(b) != 32 {
		return "", wire.BadArgs("sha256: %q is not 64 hex digits", a.SHA256)
	}
	if u.hub == nil || u.opts.Token == "" {
		return "", wire.BadArgs("url: this mirror has no hub to update from (cloud.hub_url and cloud.token)")
	}
	if len(u.opts.Keys) == 0 {
		return "", wire.BadArgs("signature: this mirror has no update.public_keys to check it against")
	}
	ref, err := url.Parse(a.URL)
	if err != nil {
		return "", wire.BadArgs("url: %q is not a URL", a.URL)
	}
	abs := u.hub.ResolveReference(ref)
	base := strings.TrimSuffix(u.hub.Path, "/")
	if abs.Scheme != u.hub.Scheme || abs.Host != u.hub.Host || abs.User != nil || abs.Fragment != "" ||
		path.Clean(abs.Path) != abs.Path || !strings.HasPrefix(abs.Path, base+"/v1/releases/") {
		return "", wire.BadArgs("url: %q is not a release of the configured hub (%s/v1/releases/…)", a.URL, u.hub.String())
	}
	return abs.String(), nil
}

// Handle is the update command. It checks the arguments, downloads and verifies the
// release, and answers {"state":"installing"}, or {"state":"waiting"} while a shopper is at
// the mirror or outside update.window; [Updater.Run] then starts the installer.
func (u *Updater) Handle(ctx context.Context, args json.RawMessage) (any, error) {
	var a wire.UpdateArgs
	if err := json.Unmarshal(args, &a); err != nil {
		return nil, wire.BadArgs(`want {"version","url","sha256","size","signature"}: %v`, err)
	}
	src, err := u.checkArgs(a)
	if err != nil {
		return nil, err
	}
	switch c := debpkg.CompareVersions(a.Version, u.running); {
	case u.running == "":
	case c == 0:
		return nil, u.refuse(a.Version, wire.BadArgs("version: %s is already running", a.Version))
	case c < 0 && !a.AllowDowngrade:
		return nil, u.refuse(a.Version, wire.BadArgs("version: %s is older than the running %s (allow_downgrade to install it)", a.Version, u.running))
	}
	if u.running == "" {
		return nil, u.refuse(a.Version, &wire.Error{Code: wire.CodeFailed,
			Message: fmt.Sprintf("the agent does not run from an installed %s package: nothing to roll back to", u.opts.Package)})
	}
	if err := u.begin(a.Version); err != nil {
		return nil, err
	}
	_, err = u.fetchRelease(ctx, a, src)
	if err != nil {
		u.end()
		u.opts.SetTarget("")
		return nil, u.refuse(a.Version, err)
	}
	state := "installing"
	if u.opts.Busy(ctx) || !u.opts.Window.Contains(u.opts.Now()) {
		state = "waiting"
	}
	u.end()
	return wire.UpdateResult{Version: a.Version, State: state}, nil
}

// begin marks an update as being worked on; one at a time.
func (u *Updater) begin(version string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.active {
		return &wire.Error{Code: wire.CodeBusy, Message: "another update is in progress"}
	}
	if j, err := u.st.read(); err != nil {
		return err
	} else if j != nil { // a finished one until its outcome is reported (within a second)
		return &wire.Error{Code: wire.CodeBusy, Message: fmt.Sprintf("the update to %s is in progress (%s)", j.Version, j.Step)}
	}
	u.active = true
	return nil
}

func (u *Updater) end() {
	u.mu.Lock()
	u.active = false
	u.mu.Unlock()
}

// fetchRelease downloads and verifies the release and journals it verified.
func (u *Updater) fetchRelease(ctx context.Context, a wire.UpdateArgs, src string) (*Journal, error) {
	u.st.clear()
	u.opts.SetTarget(a.Version)
	u.opts.Record(wire.EventUpdateDownloading, wire.Update{Version: a.Version, From: u.running})
	deb := u.st.path("new.deb")
	part := u.st.dropParts("release-" + strings.ToLower(a.SHA256) + ".part") // resumed, when an earlier command got part of it
	if err := u.download(ctx, src, part, deb, a.Size); err != nil {
		if errors.Is(err, errDiskFull) {
			return nil, &wire.Error{Code: wire.CodeFailed, Message: diskFullMessage(u.st.dir, err)}
		}
		return nil, err
	}
	j := &Journal{Step: StepDownloaded, Version: a.Version, From: u.running, Package: u.opts.Package, Deb: deb,
		HealthTimeout: u.opts.HealthTimeout}
	if err := u.st.write(j); err != nil {
		return nil, err
	}
	fail := func(err error) (*Journal, error) { u.st.clear(); return nil, err }
	if err := verify(deb, a.Size, a.SHA256, []byte(a.Signature), u.opts.Keys); err != nil {
		return fail(err)
	}
	c, err := u.opts.Dpkg.Control(ctx, deb)
	switch {
	case err != nil:
		return fail(wire.BadArgs("url: %v", err))
	case c.Package != u.opts.Package:
		return fail(wire.BadArgs("url: the release is the package %s, not %s", c.Package, u.opts.Package))
	case c.Version != a.Version:
		return fail(wire.BadArgs("version: the release is %s, not %s", c.Version, a.Version))
	case c.Architecture != u.opts.Arch && c.Architecture != "all":
		return fail(wire.BadArgs("url: the release is for %s, this mirror is %s", c.Architecture, u.opts.Arch))
	}
	j.Step = StepVerified
	if err := u.st.write(j); err != nil {
		return fail(err)
	}
	u.opts.Record(wire.EventUpdateVerified, wire.Update{Version: a.Version, From: u.running})
	return j, nil
}
