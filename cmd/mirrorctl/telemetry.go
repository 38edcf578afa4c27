package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fitmirror/fitmirror/internal/wire"
)

// telemetry waits up to --timeout for one telemetry message of mirror id (telemetry is not
// retained: mirrors send it every telemetry_interval) and prints it, one field a line.
func (c *app) telemetry(ctx context.Context, id string) error {
	s, err := c.connect()
	if err != nil {
		return err
	}
	defer s.close()
	if err := s.subscribe(c.topics(id).Telemetry()); err != nil {
		return err
	}
	stop := time.After(c.timeout)
	for {
		select {
		case m := <-s.ch:
			var t wire.Telemetry
			if err := json.Unmarshal(m.payload, &t); err != nil {
				return fail(exitRefused, "%s sent telemetry that does not decode (%s): %v", id, clipped(m.payload), err)
			}
			if c.jsonOut {
				return c.printJSON(json.RawMessage(m.payload))
			}
			return printTelemetry(c.out, id, t)
		case <-stop:
			return fail(exitTimeout, "no telemetry from %s within %s (mirrors send it every telemetry_interval, 30s by default; --timeout waits longer)", id, c.timeout)
		case <-ctx.Done():
			return fail(exitTimeout, "interrupted before %s sent telemetry", id)
		}
	}
}

// printTelemetry writes one telemetry message for people: units, durations and percentages,
// the mirror's strings through safe.
func printTelemetry(w io.Writer, id string, t wire.Telemetry) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	line := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	line("mirror", cell(id))
	line("sent", ago(t.At))
	version := cell(t.Version)
	if t.TargetVersion != "" && t.TargetVersion != t.Version {
		version += " (installing " + cell(t.TargetVersion) + ")"
	}
	line("version", version)
	line("uptime", (time.Duration(t.UptimeS) * time.Second).String())
	line("camera", fmt.Sprintf("%s, %.1f fps, detection %.1f ms (median)", cell(t.Camera), t.FPS, t.DetectMSP50))
	line("display", cell(t.Display))
	line("cpu", fmt.Sprintf("%.1f%%", t.CPUPct))
	line("memory", megabytes(t.RSSMB))
	line("temperature", celsius(t.TempC))
	if t.Throttled != nil {
		line("throttled", throttledText(t.Throttled))
	}
	line("disk free", megabytes(t.DiskFreeMB))
	session := cell(t.Session.State)
	if t.Session.ID != "" {
		session += " " + cell(t.Session.ID)
	}
	line("session", session)
	outbox := fmt.Sprintf("%d waiting", t.OutboxDepth)
	if t.OutboxDropped > 0 {
		outbox += fmt.Sprintf(", %d dropped", t.OutboxDropped)
	}
	line("outbox", outbox)
	n := t.Counters
	line("since start", fmt.Sprintf("%d sessions, %d photos, %d QR shown, %d bound (%s)", n.Sessions, n.Photos, n.QRShown, n.Bound, percent(n.Bound, n.QRShown)))
	if len(t.Problems) == 0 {
		line("problems", "none")
	}
	for _, p := range t.Problems {
		line("problem", problemText(p))
	}
	return tw.Flush()
}

func problemText(p wire.Problem) string {
	s := cell(p.Part) + " " + cell(p.State)
	if p.Reason != "" {
		s += ": " + cell(p.Reason)
	}
	return s
}

func throttledText(t *wire.Throttled) string {
	s := cell(t.Flags)
	if len(t.Now) > 0 {
		s += ", now " + cell(strings.Join(t.Now, " "))
	}
	if len(t.Occurred) > 0 {
		s += ", since boot " + cell(strings.Join(t.Occurred, " "))
	}
	return s
}

// megabytes renders a size in MB ("900 MB", "12.3 GB").
func megabytes(mb float64) string {
	if mb >= 10*1024 {
		return fmt.Sprintf("%.1f GB", mb/1024)
	}
	return fmt.Sprintf("%.0f MB", mb)
}

func celsius(c *float64) string {
	if c == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f °C", *c)
}

// percent is part/whole as "18.2%" ("-" when whole is 0).
func percent(part, whole int64) string {
	if whole == 0 {
		return "-"
	}
	return strconv.FormatFloat(100*float64(part)/float64(whole), 'f', 1, 64) + "%"
}

// topRow is one mirror of top: its retained status and its latest telemetry. State is what
// top makes of them: the status's state, or silent (as the console says) when the status says
// online or degraded but no telemetry has come for --silent-after.
type topRow struct {
	ID        string          `json:"id"`
	State     string          `json:"state"`
	Status    *wire.Status    `json:"status"`
	Telemetry *wire.Telemetry `json:"telemetry"`
	heard     time.Time       // when top last received its telemetry
}

// stateSilent is the console's state for a mirror that says it is up but sends no telemetry.
const stateSilent = "silent"

// topState is the row's state at now: the retained status's, unless the mirror claims to be up
// and its telemetry has not come for silentAfter (counted from top's start, started, for a
// mirror not heard from since): a hung agent, or a half-open connection the broker still holds.
func (r *topRow) topState(now, started time.Time, silentAfter time.Duration) string {
	if r.Status == nil {
		return "unknown"
	}
	st := state(r.Status.State)
	if st != wire.StateOnline && st != wire.StateDegraded {
		return st
	}
	last := r.heard
	if last.IsZero() {
		last = started
	}
	if now.Sub(last) > silentAfter {
		return stateSilent
	}
	return st
}

// top shows every mirror's status and telemetry: on a terminal a table redrawn every
// interval until interrupted; with once (or when stdout is not a terminal) one table after
// --timeout (telemetry is not retained: a mirror shows its fps, CPU… once it has sent some).
func (c *app) top(ctx context.Context, interval, silentAfter time.Duration, once bool) error {
	if interval <= 0 {
		return fail(exitUsage, "top: --interval %s: want a positive duration", interval)
	}
	if silentAfter <= 0 {
		return fail(exitUsage, "top: --silent-after %s: want a positive duration", silentAfter)
	}
	started := time.Now()
	s, err := c.connect()
	if err != nil {
		return err
	}
	defer s.close()
	if err := s.subscribe(c.prefix+"/+/status", c.prefix+"/+/telemetry"); err != nil {
		return err
	}
	live := !once && !c.jsonOut && isTerminal(c.out)
	rows := map[string]*topRow{}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	stop := time.After(c.timeout)
	if live {
		stop = nil
	}
	for {
		select {
		case m := <-s.ch:
			c.topTake(rows, m)
		case <-tick.C:
			if live {
				fmt.Fprint(c.out, "\x1b[H\x1b[2J") // home and clear: our own escape, never a mirror's
				c.topTable(rows, started, silentAfter)
			}
		case <-stop:
			return c.topTable(rows, started, silentAfter)
		case <-ctx.Done():
			return nil
		}
	}
}

// topTake notes one status or telemetry message (an empty retained status: the mirror is gone).
func (c *app) topTake(rows map[string]*topRow, m msg) {
	id, ok := wire.DeviceOf(c.prefix, m.topic)
	if !ok || !wire.ValidDeviceID(id) {
		return
	}
	isStatus := strings.HasSuffix(m.topic, "/status")
	if isStatus && len(m.payload) == 0 {
		delete(rows, id)
		return
	}
	r := rows[id]
	if r == nil {
		r = &topRow{ID: id}
		rows[id] = r
	}
	if isStatus {
		var st wire.Status
		if json.Unmarshal(m.payload, &st) == nil {
			r.Status = &st
		}
		return
	}
	var t wire.Telemetry
	if json.Unmarshal(m.payload, &t) == nil {
		r.Telemetry, r.heard = &t, time.Now()
	}
}

// topTable prints the fleet: problems first (offline, silent, degraded, unknown), then by ID.
func (c *app) topTable(rows map[string]*topRow, started time.Time, silentAfter time.Duration) error {
	now := time.Now()
	list := make([]*topRow, 0, len(rows))
	for _, r := range rows {
		r.State = r.topState(now, started, silentAfter)
		list = append(list, r)
	}
	rank := func(r *topRow) int {
		if n, ok := map[string]int{wire.StateOffline: 0, stateSilent: 1, wire.StateDegraded: 2, wire.StateOnline: 4}[r.State]; ok {
			return n
		}
		return 3
	}
	sort.Slice(list, func(i, j int) bool {
		if a, b := rank(list[i]), rank(list[j]); a != b {
			return a < b
		}
		return list[i].ID < list[j].ID
	})
	if c.jsonOut {
		return c.printJSON(list)
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MIRROR\tSTATE\tVERSION\tSEEN\tFPS\tCPU\tTEMP\tDISK\tCAMERA\tSESSION\tBOUND/QR\tPROBLEM")
	for _, r := range list {
		st, version, problem := r.State, "-", "-"
		if r.Status != nil {
			version = cell(r.Status.Version)
			if r.Status.Reason != "" {
				problem = safe(r.Status.Reason, 60)
			}
		}
		cells := []string{"-", "-", "-", "-", "-", "-", "-", "-"}
		if t := r.Telemetry; t != nil {
			seen := "-"
			if !t.At.IsZero() {
				seen = time.Since(t.At.Time).Round(time.Second).String() + " ago"
			}
			cells = []string{seen, fmt.Sprintf("%.1f", t.FPS), fmt.Sprintf("%.0f%%", t.CPUPct), celsius(t.TempC), megabytes(t.DiskFreeMB),
				cell(t.Camera), cell(t.Session.State), fmt.Sprintf("%d/%d", t.Counters.Bound, t.Counters.QRShown)}
			if len(t.Problems) > 0 {
				problem = safe(problemText(t.Problems[0]), 60)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cell(r.ID), st, version, strings.Join(cells, "\t"), problem)
	}
	return tw.Flush()
}

// isTerminal reports whether w is a terminal (top redraws only there; /dev/null, a pipe or a
// file get one table).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && terminal(f)
}
