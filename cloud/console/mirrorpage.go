package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// The mirror view (docs/console.md): GET /mirrors/{id} draws a mirror's telemetry of the
// last 24 h, its event timeline, its desired and reported configuration with an editor, and
// its commands; GET /api/mirrors/{id}, …/telemetry and …/config are the same as JSON; POST
// /api/mirrors/{id}/config sends a desired configuration.

// RetainedPublisher is a Publisher that can also retain a message (config/desired). The
// hub's broker connections are; with a Publisher that is not, the console sends no
// configuration (501).
type RetainedPublisher interface {
	PublishRetained(ctx context.Context, topic string, payload []byte) error
}

// mirror is the fleet's view of one mirror (false when the fleet has not heard of it).
func (c *Console) mirror(ctx context.Context, id string) (Mirror, bool, error) {
	ms, err := c.mirrors(ctx)
	if err != nil {
		return Mirror{}, false, err
	}
	for _, m := range ms {
		if m.ID == id {
			return m, true, nil
		}
	}
	return Mirror{}, false, nil
}

// mirrorID reads {id}; false (and the answer written) when it is not a device ID.
func mirrorID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if !wire.ValidDeviceID(id) {
		httpError(w, http.StatusBadRequest, "bad_id", "not a mirror ID")
		return "", false
	}
	return id, true
}

// apiMirror is GET /api/mirrors/{id}: one mirror as in /api/mirrors.
func (c *Console) apiMirror(w http.ResponseWriter, r *http.Request, _ *who) {
	id, ok := mirrorID(w, r)
	if !ok {
		return
	}
	m, ok, err := c.mirror(r.Context(), id)
	switch {
	case err != nil:
		httpError(w, http.StatusServiceUnavailable, "store_unavailable", "the database does not answer")
	case !ok:
		httpError(w, http.StatusNotFound, "not_found", "the hub has not heard of this mirror")
	default:
		writeJSON(w, http.StatusOK, m)
	}
}

// apiTelemetry is GET /api/mirrors/{id}/telemetry: the last 24 h, a point a minute.
func (c *Console) apiTelemetry(w http.ResponseWriter, r *http.Request, _ *who) {
	id, ok := mirrorID(w, r)
	if !ok {
		return
	}
	pts, ok := c.telemetry(r.Context(), id)
	if !ok {
		httpError(w, http.StatusNotFound, "not_found", "the hub has not heard of this mirror")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "step_s": 60, "points": pts})
}

// apiConfig is GET /api/mirrors/{id}/config: desired and reported.
func (c *Console) apiConfig(w http.ResponseWriter, r *http.Request, _ *who) {
	id, ok := mirrorID(w, r)
	if !ok {
		return
	}
	s, ok := c.fleet.Config(id)
	if !ok {
		httpError(w, http.StatusNotFound, "not_found", "the hub has not heard of this mirror")
		return
	}
	writeJSON(w, http.StatusOK, s)
}

// ConfigAnswer answers POST /api/mirrors/{id}/config.
type ConfigAnswer struct {
	Version int64       `json:"version"`
	State   string      `json:"state"` // valid (a dry run), applied, refused, or sent (no report yet)
	Error   *wire.Error `json:"error,omitempty"`
}

// apiSetConfig is POST /api/mirrors/{id}/config with {"config":{…partial…}} (?dry_run=1: only
// check it). The configuration is checked first (Options.CheckConfig, the agent's rules): a
// bad one is 422 and nothing is sent. Else it is published, retained, on config/desired with
// the version after both the desired and the reported one, and the console waits up to
// CommandWait for the mirror's report: 200 applied or refused (with the mirror's reason), or
// 202 sent.
func (c *Console) apiSetConfig(w http.ResponseWriter, r *http.Request, wh *who) {
	id, ok := mirrorID(w, r)
	if !ok {
		return
	}
	var body struct {
		Config json.RawMessage `json:"config"`
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body.Config) == 0 {
		httpError(w, http.StatusBadRequest, "bad_json", `want {"config":{…}}, the partial configuration as JSON`)
		return
	}
	if err := c.checkConfig(body.Config); err != nil {
		httpError(w, http.StatusUnprocessableEntity, wire.CodeInvalidConfig, err.Error())
		return
	}
	if r.URL.Query().Get("dry_run") != "" {
		writeJSON(w, http.StatusOK, ConfigAnswer{State: "valid"})
		return
	}
	rp, ok := c.opts.Publisher.(RetainedPublisher)
	if !ok {
		httpError(w, http.StatusNotImplemented, "no_retained", "this hub's broker connection cannot send a desired configuration")
		return
	}
	cur, _ := c.fleet.Config(id)
	last := int64(0)
	for _, v := range []int64{cur.DesiredVersion, cur.ReportedVersion} {
		if v >= 1 && v <= wire.MaxConfigVersion {
			last = max(last, v)
		}
	}
	if last >= wire.MaxConfigVersion {
		httpError(w, http.StatusConflict, "version_exhausted", "the mirror's configuration version is at its maximum")
		return
	}
	d := wire.Desired{Version: last + 1, Config: body.Config}
	payload, _ := json.Marshal(d)
	ch, cancel := c.fleet.waitConfig(id, d.Version)
	defer cancel()
	action := "config version " + strconv.FormatInt(d.Version, 10)
	if err := rp.PublishRetained(r.Context(), wire.Topics{Prefix: c.fleet.prefix, Device: id}.Desired(), payload); err != nil {
		c.audit(r.Context(), wh, action, id, "not sent: "+err.Error())
		httpError(w, http.StatusBadGateway, "broker", "the broker did not take the configuration: "+err.Error())
		return
	}
	c.awaitReport(w, r, wh, id, action, d.Version, ch)
}

// awaitReport waits for the mirror's report of version and answers with it.
func (c *Console) awaitReport(w http.ResponseWriter, r *http.Request, wh *who, id, action string, version int64, ch <-chan wire.Reported) {
	t := time.NewTimer(c.opts.CommandWait)
	defer t.Stop()
	select {
	case rep := <-ch:
		a := ConfigAnswer{Version: version, State: "applied"}
		if rep.Error != nil {
			a.State, a.Error = "refused", &wire.Error{Code: visible(rep.Error.Code), Message: visible(truncate(rep.Error.Message, 500))}
			c.audit(r.Context(), wh, action, id, "refused: "+a.Error.Message)
		} else {
			c.audit(r.Context(), wh, action, id, "applied")
		}
		writeJSON(w, http.StatusOK, a)
	case <-t.C:
		c.audit(r.Context(), wh, action, id, "sent (retained), no report within "+c.opts.CommandWait.String())
		writeJSON(w, http.StatusAccepted, ConfigAnswer{Version: version, State: "sent"})
	case <-r.Context().Done():
		c.audit(r.Context(), wh, action, id, "sent (retained), the operator left")
	}
}

// checkConfig checks a partial configuration with Options.CheckConfig (the agent's rules),
// else only its form.
func (c *Console) checkConfig(partial json.RawMessage) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(partial, &obj); err != nil || obj == nil {
		return errors.New("config must be a JSON object of sections, as in the mirror's YAML file")
	}
	if c.opts.CheckConfig != nil {
		return c.opts.CheckConfig(partial)
	}
	return nil
}

// mirrorData is the mirror page's.
type mirrorData struct {
	Operator, Role, CSRF string
	CanCommand           bool
	Mirror               Mirror
	Charts               []chart
	Events               []timelineEvent
	EventsError          string
	Config               ConfigState
	Desired, Reported    string // indented JSON
	Commands             []string
	Versions             []string // what update may install (the hub's releases)
}

// timelineEvent is one row of the timeline, every string as text.
type timelineEvent struct {
	Seq                     uint64
	At, Type, Kind, Session string
	Photo, Data             string
}

// mirrorPage is GET /mirrors/{id}.
func (c *Console) mirrorPage(w http.ResponseWriter, r *http.Request, wh *who) {
	id := r.PathValue("id")
	if !wire.ValidDeviceID(id) {
		http.Error(w, "not a mirror ID", http.StatusBadRequest)
		return
	}
	m, ok, err := c.mirror(r.Context(), id)
	if err != nil {
		http.Error(w, "the database does not answer", http.StatusServiceUnavailable)
		return
	}
	if !ok {
		http.Error(w, "the hub has not heard of this mirror", http.StatusNotFound)
		return
	}
	d := mirrorData{Operator: wh.op.Name, Role: wh.op.Role, CSRF: wh.session.CSRF, Mirror: m, Commands: Commands,
		CanCommand: roleLevel[wh.op.Role] >= roleLevel[hubstore.RoleOperator]}
	pts, _ := c.telemetry(r.Context(), id)
	d.Charts = charts(pts, c.now())
	d.Config, _ = c.fleet.Config(id)
	d.Desired, d.Reported = indent(d.Config.Desired, "{}"), indent(d.Config.Reported, "")
	d.Events, d.EventsError = c.timeline(r.Context(), id)
	d.Versions = c.updateVersions(r.Context(), m)
	c.render(w, "mirror.html", d)
}

// timeline is the mirror's newest 100 events, for the page.
func (c *Console) timeline(ctx context.Context, id string) ([]timelineEvent, string) {
	if c.opts.Events == nil {
		return nil, "This hub keeps no mirror events."
	}
	es, err := c.opts.Events.MirrorEvents(ctx, id, 100)
	if err != nil {
		return nil, "The database does not answer."
	}
	out := make([]timelineEvent, 0, len(es))
	for _, e := range es {
		kind, _, _ := strings.Cut(e.Type, ".")
		out = append(out, timelineEvent{Seq: e.Seq, At: e.At.UTC().Format("2006-01-02 15:04:05Z"), Type: visible(e.Type), Kind: visible(kind),
			Session: visible(e.SessionID), Photo: visible(e.PhotoID), Data: visible(truncate(string(e.Data), 300))})
	}
	return out, ""
}

// indent is raw as indented JSON (def when there is none).
func indent(raw json.RawMessage, def string) string {
	if len(raw) == 0 {
		return def
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return def
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	return visibleBlock(string(b))
}

// visibleBlock is visible for text of several lines: newlines stay.
func visibleBlock(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = visible(l)
	}
	return strings.Join(lines, "\n")
}

// chart is one telemetry chart of the page: polylines in a 720×140 SVG, the last 24 h.
type chart struct {
	ID, Title, Unit string
	Lines           []string // each a polyline's points; a gap over 3 minutes starts a new one
	Min, Max, Last  string
	LastX, LastY    string // the newest point, marked with a dot
	Empty           bool
}

const chartW, chartH = 720.0, 140.0

// charts draws fps, CPU, temperature and free disk of pts over the 24 h up to now.
func charts(pts []Point, now time.Time) []chart {
	temp := func(p Point) (float64, bool) {
		if p.Temp == nil {
			return 0, false
		}
		return *p.Temp, true
	}
	return []chart{
		draw("chart-fps", "Camera frame rate", "fps", pts, now, func(p Point) (float64, bool) { return p.FPS, true }),
		draw("chart-cpu", "CPU", "%", pts, now, func(p Point) (float64, bool) { return p.CPU, true }),
		draw("chart-temp", "Temperature", "°C", pts, now, temp),
		draw("chart-disk", "Free disk", "MB", pts, now, func(p Point) (float64, bool) { return p.Disk, true }),
	}
}

func draw(id, title, unit string, pts []Point, now time.Time, pick func(Point) (float64, bool)) chart {
	ch := chart{ID: id, Title: title, Unit: unit}
	lo, hi, n := 0.0, 0.0, 0
	var last float64
	for _, p := range pts {
		if v, ok := pick(p); ok {
			if n == 0 || v < lo {
				lo = v
			}
			if n == 0 || v > hi {
				hi = v
			}
			n, last = n+1, v
		}
	}
	if n == 0 {
		ch.Empty = true
		return ch
	}
	ch.Min, ch.Max, ch.Last = fmtNum(lo), fmtNum(hi), fmtNum(last)
	base, span := lo, hi-lo
	if span == 0 {
		base, span = lo-1, 2
	}
	from := now.Add(-24 * time.Hour)
	var line []string
	flush := func() {
		if len(line) == 1 { // a lone minute: a short dash, so that it shows
			var x, y float64
			fmt.Sscanf(line[0], "%g,%g", &x, &y)
			line = append([]string{fmt.Sprintf("%.1f,%.1f", x-3, y)}, line...)
		}
		if len(line) > 0 {
			ch.Lines = append(ch.Lines, strings.Join(line, " "))
		}
		line = nil
	}
	var prev time.Time
	for _, p := range pts {
		v, ok := pick(p)
		if !ok {
			continue
		}
		if !prev.IsZero() && p.At.Sub(prev) > 3*time.Minute {
			flush()
		}
		prev = p.At
		x := min(chartW-4, chartW*p.At.Sub(from).Seconds()/(24*time.Hour).Seconds())
		y := 10 + (chartH-20)*(1-(v-base)/span)
		line = append(line, fmt.Sprintf("%.1f,%.1f", x, y))
		ch.LastX, ch.LastY = fmt.Sprintf("%.1f", x), fmt.Sprintf("%.1f", y)
	}
	flush()
	return ch
}

func fmtNum(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
