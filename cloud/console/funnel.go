package console

import (
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/fitmirror/fitmirror/internal/wire"
)

// The shopper funnel (docs/console.md): QR codes shown → scanned → bound, per mirror, store or
// day, from the mirrors' events the hub keeps (qr.shown, photo.bound) and the scans it
// handled. GET /api/funnel?from=YYYY-MM-DD&to=YYYY-MM-DD&group=day|mirror|store (to
// included; default the last 7 days by day), &format=csv for a spreadsheet; GET /funnel
// draws it.

// FunnelRow is one group of the funnel.
type FunnelRow struct {
	Key      string  `json:"key"` // the day, the mirror or the store
	QRShown  int     `json:"qr_shown"`
	Scanned  int     `json:"scanned"`
	Bound    int     `json:"bound"`
	ScanRate float64 `json:"scan_rate"` // scanned / QR shown (0 when none was shown)
	BindRate float64 `json:"bind_rate"` // bound / QR shown
}

// funnelQuery reads from, to and group.
func funnelQuery(r *http.Request, now time.Time) (from, to time.Time, group string, err error) {
	q := r.URL.Query()
	day := func(name string, def time.Time) (time.Time, error) {
		v := q.Get(name)
		if v == "" {
			return def, nil
		}
		t, err := time.Parse("2006-01-02", v)
		if err != nil {
			return t, fmt.Errorf("%s=%q: want YYYY-MM-DD", name, v)
		}
		return t, nil
	}
	today := now.UTC().Truncate(24 * time.Hour)
	if to, err = day("to", today); err != nil {
		return
	}
	if from, err = day("from", to.AddDate(0, 0, -6)); err != nil {
		return
	}
	to = to.AddDate(0, 0, 1) // the whole last day
	switch group = q.Get("group"); group {
	case "":
		group = "day"
	case "day", "mirror", "store":
	default:
		err = fmt.Errorf("group=%q: want day, mirror or store", group)
		return
	}
	if !from.Before(to) || to.Sub(from) > 400*24*time.Hour {
		err = errors.New("want from ≤ to, at most 400 days apart")
	}
	return
}

// funnel groups the store's rows.
func (c *Console) funnel(r *http.Request) ([]FunnelRow, string, error) {
	from, to, group, err := funnelQuery(r, c.now())
	if err != nil {
		return nil, "", err
	}
	rows, err := c.opts.Events.Funnel(r.Context(), from, to)
	if err != nil {
		return nil, group, errStore
	}
	var stores map[string]string
	if group == "store" {
		if stores, err = c.st.MirrorStores(r.Context()); err != nil {
			return nil, group, errStore
		}
	}
	index := map[string]int{}
	var out []FunnelRow
	for _, row := range rows {
		key := row.Day
		switch group {
		case "mirror":
			key = row.Device
		case "store":
			if key = stores[row.Device]; key == "" {
				key = "(no store)"
			}
		}
		i, ok := index[key]
		if !ok {
			i = len(out)
			index[key] = i
			out = append(out, FunnelRow{Key: key})
		}
		out[i].QRShown += row.QRShown
		out[i].Scanned += row.Scanned
		out[i].Bound += row.Bound
	}
	if group != "day" {
		slices.SortFunc(out, func(a, b FunnelRow) int { return b.QRShown - a.QRShown })
	}
	for i := range out {
		if out[i].QRShown > 0 {
			out[i].ScanRate = float64(out[i].Scanned) / float64(out[i].QRShown)
			out[i].BindRate = float64(out[i].Bound) / float64(out[i].QRShown)
		}
	}
	return out, group, nil
}

var errStore = errors.New("the database does not answer")

// apiFunnel is GET /api/funnel.
func (c *Console) apiFunnel(w http.ResponseWriter, r *http.Request, _ *who) {
	if c.opts.Events == nil {
		httpError(w, http.StatusNotFound, "no_events", "this hub keeps no mirror events")
		return
	}
	rows, group, err := c.funnel(r)
	switch {
	case errors.Is(err, errStore):
		httpError(w, http.StatusServiceUnavailable, "store_unavailable", err.Error())
		return
	case err != nil:
		httpError(w, http.StatusBadRequest, "bad_query", err.Error())
		return
	}
	if r.URL.Query().Get("format") == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="fitmirror-funnel.csv"`)
		cw := csv.NewWriter(w)
		cw.Write([]string{group, "qr_shown", "scanned", "bound", "scan_rate", "bind_rate"})
		for _, row := range rows {
			cw.Write([]string{csvSafe(row.Key), strconv.Itoa(row.QRShown), strconv.Itoa(row.Scanned), strconv.Itoa(row.Bound),
				strconv.FormatFloat(row.ScanRate, 'f', 3, 64), strconv.FormatFloat(row.BindRate, 'f', 3, 64)})
		}
		cw.Flush()
		return
	}
	if rows == nil {
		rows = []FunnelRow{}
	}
	writeJSON(w, http.StatusOK, rows)
}

// csvSafe keeps a spreadsheet from running a store name as a formula.
func csvSafe(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@') {
		return "'" + s
	}
	return s
}

// apiEvents is GET /api/mirrors/{id}/events: the mirror's newest events (?limit, default
// 100, at most 1000), newest first.
func (c *Console) apiEvents(w http.ResponseWriter, r *http.Request, _ *who) {
	id := r.PathValue("id")
	if !wire.ValidDeviceID(id) {
		httpError(w, http.StatusBadRequest, "bad_id", "not a mirror ID")
		return
	}
	if c.opts.Events == nil {
		httpError(w, http.StatusNotFound, "no_events", "this hub keeps no mirror events")
		return
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			httpError(w, http.StatusBadRequest, "bad_query", "limit: 1 to 1000")
			return
		}
		limit = n
	}
	es, err := c.opts.Events.MirrorEvents(r.Context(), id, limit)
	if err != nil {
		httpError(w, http.StatusServiceUnavailable, "store_unavailable", "the database does not answer")
		return
	}
	out := make([]wire.KeptEvent, 0, len(es))
	for _, e := range es {
		out = append(out, wire.KeptEvent{Seq: e.Seq, Type: visible(e.Type), At: wire.FormatTime(e.At), SessionID: visible(e.SessionID),
			PhotoID: visible(e.PhotoID), Data: visible(truncate(string(e.Data), 2000))})
	}
	writeJSON(w, http.StatusOK, out)
}

// funnelData is the funnel page's.
type funnelData struct {
	Operator, Role, CSRF string
	Group, From, To      string
	Rows                 []FunnelRow
	Max                  int
	Error                string
}

// funnelPage is GET /funnel: bars drawn as SVG by the page itself, the table, a CSV link.
func (c *Console) funnelPage(w http.ResponseWriter, r *http.Request, wh *who) {
	d := funnelData{Operator: wh.op.Name, Role: wh.op.Role, CSRF: wh.session.CSRF}
	from, to, group, err := funnelQuery(r, c.now())
	d.Group, d.From, d.To = group, from.Format("2006-01-02"), to.AddDate(0, 0, -1).Format("2006-01-02")
	switch {
	case c.opts.Events == nil:
		d.Error = "This hub keeps no mirror events."
	case err != nil:
		d.Error = err.Error()
	default:
		if d.Rows, _, err = c.funnel(r); err != nil {
			d.Error = err.Error()
		}
	}
	for _, row := range d.Rows {
		d.Max = max(d.Max, row.QRShown, row.Scanned, row.Bound)
	}
	c.render(w, "funnel.html", d)
}
