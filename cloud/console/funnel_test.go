package console_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/console"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
)

// TestFunnel: a scripted sequence (two mirrors in two stores over two days: QR codes shown,
// scans the hub handled, photos bound) comes out of /api/funnel by day, mirror and store, as
// CSV, and on the page as SVG bars; a mirror's timeline lists its events newest first with
// its strings as text. A viewer sees all of it; without a session, nothing.
func TestFunnel(t *testing.T) {
	clk := newClock()                    // 2026-12-07 10:00 UTC
	none := newEnv(t, nil, clk.Now, nil) // a console without the mirrors' events
	if resp, _ := none.login(t, "vera", none.addOperator(t, "vera", hubstore.RoleViewer)).get(t, "/api/funnel"); resp.StatusCode != 404 {
		t.Errorf("/api/funnel without events = %d, want 404", resp.StatusCode)
	}
	e := newEnv(t, nil, clk.Now, func(o *console.Options) { o.Events = o.Store.(hubstore.MirrorEventStore) })
	ctx := t.Context()
	seq := map[string]uint64{}
	add := func(dev, typ string, at time.Time, data string) {
		seq[dev]++
		if _, err := e.st.AddMirrorEvent(ctx, hubstore.MirrorEvent{Device: dev, Seq: seq[dev], ID: fmt.Sprint(dev, seq[dev]), Type: typ, At: at, Data: []byte(data)}); err != nil {
			t.Fatal(err)
		}
	}
	scans := 0
	scan := func(dev string, at time.Time) {
		scans++
		k := fmt.Sprint("k", dev, scans)
		if _, _, err := e.st.RecordEvent(ctx, hubstore.Event{Key: k, BindingID: "B" + k, DeviceID: dev, PhotoID: "P", User: "u", Payload: []byte("{}"), Reply: []byte("<xml/>"), At: at}); err != nil {
			t.Fatal(err)
		}
	}
	yesterday, today := clk.Now().Add(-24*time.Hour), clk.Now()
	// yesterday: m1 shows 4 codes, 3 are scanned, 2 bound; m2 shows 2, 1 scanned and bound.
	for range 4 {
		add("m1", "qr.shown", yesterday, "{}")
	}
	for range 3 {
		scan("m1", yesterday.Add(time.Minute))
	}
	add("m1", "photo.bound", yesterday.Add(2*time.Minute), `{"event":"SCAN"}`)
	add("m1", "photo.bound", yesterday.Add(3*time.Minute), `{"event":"SCAN"}`)
	add("m2", "qr.shown", yesterday, "{}")
	add("m2", "qr.shown", yesterday, "{}")
	scan("m2", yesterday.Add(time.Minute))
	add("m2", "photo.bound", yesterday.Add(2*time.Minute), `{"event":"subscribe"}`)
	// today: m1 shows 1, nobody scans; an event with a hostile string.
	add("m1", "qr.shown", today, "{}")
	add("m1", "session.closed", today.Add(time.Minute), `{"reason":"<script>alert(1)</script>\u001b[2J"}`)
	e.st.SetMirrorStore(ctx, "m1", "Shanghai 1")
	e.st.SetMirrorStore(ctx, "m2", "=Beijing")

	pw := e.addOperator(t, "vera", hubstore.RoleViewer)
	c := e.login(t, "vera", pw)
	get := func(q string) []console.FunnelRow {
		t.Helper()
		resp, body := c.get(t, "/api/funnel"+q)
		var rows []console.FunnelRow
		if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &rows) != nil {
			t.Fatalf("GET /api/funnel%s = %d %s", q, resp.StatusCode, body)
		}
		return rows
	}
	str := func(rows []console.FunnelRow) string {
		var b strings.Builder
		for _, r := range rows {
			fmt.Fprintf(&b, "%s:%d/%d/%d ", r.Key, r.QRShown, r.Scanned, r.Bound)
		}
		return strings.TrimSpace(b.String())
	}
	for q, want := range map[string]string{
		"":                               "2026-12-06:6/4/3 2026-12-07:1/0/0",
		"?group=mirror":                  "m1:5/3/2 m2:2/1/1",
		"?group=store":                   "Shanghai 1:5/3/2 =Beijing:2/1/1",
		"?from=2026-12-07&to=2026-12-07": "2026-12-07:1/0/0",
		"?from=2026-12-06&to=2026-12-06&group=mirror": "m1:4/3/2 m2:2/1/1",
	} {
		if got := str(get(q)); got != want {
			t.Errorf("funnel%s = %s, want %s", q, got, want)
		}
	}
	if rows := get("?group=mirror"); rows[0].ScanRate != 0.6 || rows[0].BindRate != 0.4 {
		t.Errorf("m1's rates %+v, want 0.6 and 0.4", rows[0])
	}
	resp, csv := c.get(t, "/api/funnel?group=store&format=csv")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(csv, "store,qr_shown,scanned,bound,scan_rate,bind_rate\n") || !strings.Contains(csv, "'=Beijing,2,1,1,0.500,0.500") {
		t.Errorf("CSV = %d %q", resp.StatusCode, csv)
	}
	for _, bad := range []string{"?group=week", "?from=yesterday", "?from=2026-12-08&to=2026-12-01"} {
		if resp, _ := c.get(t, "/api/funnel"+bad); resp.StatusCode != 400 {
			t.Errorf("/api/funnel%s = %d, want 400", bad, resp.StatusCode)
		}
	}
	resp, page := c.get(t, "/funnel?group=mirror")
	if resp.StatusCode != 200 || strings.Count(page, `<rect class="shown"`) != 2 || !strings.Contains(page, `width="520"`) || !strings.Contains(page, "60.0 %") {
		t.Errorf("funnel page = %d:\n%s", resp.StatusCode, page)
	}
	resp, tl := c.get(t, "/api/mirrors/m1/events?limit=2")
	var events []struct {
		Seq        uint64
		Type, Data string
	}
	if resp.StatusCode != 200 || json.Unmarshal([]byte(tl), &events) != nil || len(events) != 2 || events[0].Type != "session.closed" ||
		strings.Contains(tl, "<script>") || !strings.Contains(events[0].Data, "alert(1)") {
		t.Errorf("timeline = %d %s", resp.StatusCode, tl)
	}
	for _, path := range []string{"/api/funnel", "/funnel", "/api/mirrors/m1/events"} {
		if resp, _ := e.anonymous().get(t, path); resp.StatusCode != 401 && resp.StatusCode != 303 && resp.StatusCode != 302 {
			t.Errorf("%s without a session = %d", path, resp.StatusCode)
		}
	}
}
