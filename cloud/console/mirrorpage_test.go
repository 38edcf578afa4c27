package console_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/fitmirror/fitmirror/cloud/console"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// checkStub stands in for the agent's rules (liveconfig.CheckDesired, which mirror-cloud
// passes; its own tests are in cmd/internal/liveconfig): it refuses session.countdown 99.
func checkStub(partial json.RawMessage) error {
	if strings.Contains(string(partial), `"countdown":99`) {
		return errors.New("session.countdown: must be between 0 and 10 (got 99)")
	}
	return nil
}

// answerConfig makes m1 answer its desired configuration on config/reported, retained, as
// the fleet client does: a zone of 99999 is refused (with a hostile reason), anything else
// applied. It returns the desired payloads m1 received.
func (f *fleetEnv) answerConfig(t testing.TB) func() []wire.Desired {
	t.Helper()
	got := make(chan wire.Desired, 10)
	tok := f.mirror.Subscribe("mirror/m1/config/desired", 1, func(c paho.Client, msg paho.Message) {
		var d wire.Desired
		json.Unmarshal(msg.Payload(), &d)
		got <- d
		rep := wire.Reported{Version: d.Version, AppliedAt: wire.Time{Time: time.Now()}, Config: d.Config}
		if strings.Contains(string(d.Config), "99999") {
			rep.Config = json.RawMessage(`{"presence":{"zone":""}}`)
			rep.Error = &wire.Error{Code: wire.CodeInvalidConfig, Message: "presence.zone: 0,0,99999,1 is outside the 640×480 camera frame \x1b[2J<b>"}
		}
		b, _ := json.Marshal(rep)
		c.Publish("mirror/m1/config/reported", 1, true, b)
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	return func() []wire.Desired {
		var out []wire.Desired
		for {
			select {
			case d := <-got:
				out = append(out, d)
			default:
				return out
			}
		}
	}
}

// The mirror view over a real broker: an operator sends a desired configuration that the
// console checks first (a bad one is 422 and never sent), then publishes retained with the
// next version, and gets the mirror's answer, applied or refused with its reason as text;
// desired and reported show on the page and at /api/mirrors/{id}/config. A viewer sees the
// page without the editor or the commands and gets 403 for both; a POST without CSRF is 403.
func TestMirrorConfig(t *testing.T) {
	f := newFleetEnv(t, func(o *console.Options) { o.CheckConfig = checkStub })
	received := f.answerConfig(t)
	op := f.login(t, "otto", f.addOperator(t, "otto", hubstore.RoleOperator))
	viewer := f.login(t, "vera", f.addOperator(t, "vera", hubstore.RoleViewer))
	f.hostileMirror(t)
	waitFor(t, "m1 in the fleet", func() bool { return len(op.mirrors(t, "")) == 1 })

	if resp, body := op.post(t, "/api/mirrors/m1/config", `{"config":{"session":{"countdown":5}}}`, false); resp.StatusCode != 403 {
		t.Errorf("config without CSRF = %s %s, want 403", resp.Status, body)
	}
	if resp, body := viewer.post(t, "/api/mirrors/m1/config", `{"config":{"session":{"countdown":5}}}`, true); resp.StatusCode != 403 {
		t.Errorf("a viewer's config = %s %s, want 403", resp.Status, body)
	}
	if resp, body := viewer.post(t, "/api/mirrors/m1/cmd/ping", `{}`, true); resp.StatusCode != 403 {
		t.Errorf("a viewer's ping = %s %s, want 403", resp.Status, body)
	}
	for _, bad := range []string{`{"config":{"session":{"countdown":99}}}`, `{"config":[1]}`, `{"config":"x"}`, `{"config":null}`} {
		if resp, body := op.post(t, "/api/mirrors/m1/config", bad, true); resp.StatusCode != 422 || !strings.Contains(body, "invalid_config") {
			t.Errorf("config %s = %s %s, want 422 invalid_config", bad, resp.Status, body)
		}
	}
	if resp, body := op.post(t, "/api/mirrors/m1/config?dry_run=1", `{"config":{"session":{"countdown":5}}}`, true); resp.StatusCode != 200 || !strings.Contains(body, `"state":"valid"`) {
		t.Errorf("dry run = %s %s, want valid", resp.Status, body)
	}
	time.Sleep(200 * time.Millisecond)
	if got := received(); len(got) != 0 {
		t.Fatalf("m1 received %+v before anything valid was sent", got)
	}
	var a console.ConfigAnswer
	resp, body := op.post(t, "/api/mirrors/m1/config", `{"config":{"session":{"countdown":5}}}`, true)
	if json.Unmarshal([]byte(body), &a); resp.StatusCode != 200 || a.State != "applied" || a.Version != 1 {
		t.Fatalf("config = %s %s, want version 1 applied", resp.Status, body)
	}
	resp, body = op.post(t, "/api/mirrors/m1/config", `{"config":{"presence":{"zone":"0,0,99999,1"}}}`, true)
	a = console.ConfigAnswer{}
	if json.Unmarshal([]byte(body), &a); resp.StatusCode != 200 || a.State != "refused" || a.Version != 2 || a.Error == nil ||
		!strings.Contains(a.Error.Message, `outside the 640×480 camera frame \x1b[2J<b>`) {
		t.Fatalf("config = %s %s, want version 2 refused with the mirror's reason, its escape visible", resp.Status, body)
	}
	if got := received(); len(got) != 2 || got[0].Version != 1 || got[1].Version != 2 || string(got[0].Config) != `{"session":{"countdown":5}}` {
		t.Errorf("m1 received %+v, want versions 1 and 2", got)
	}
	var cs console.ConfigState
	_, body = viewer.get(t, "/api/mirrors/m1/config")
	if json.Unmarshal([]byte(body), &cs); cs.DesiredVersion != 2 || cs.ReportedVersion != 2 || cs.Error == nil {
		t.Errorf("/api/mirrors/m1/config = %s", body)
	}
	_, page := op.get(t, "/mirrors/m1")
	for _, want := range []string{`id="config-editor"`, `&#34;zone&#34;: &#34;0,0,99999,1&#34;`, `refused: invalid_config: presence.zone: 0,0,99999,1 is outside the 640×480 camera frame \x1b[2J&lt;b&gt;`, `data-cmd="ping"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the operator's mirror page lacks %s:\n%s", want, page)
		}
	}
	resp, page = viewer.get(t, "/mirrors/m1")
	if resp.StatusCode != 200 || strings.Contains(page, "config-editor") || strings.Contains(page, `data-cmd=`) || !strings.Contains(page, `id="reported"`) {
		t.Errorf("the viewer's mirror page = %s, want the configuration without editor or commands:\n%s", resp.Status, page)
	}
	if strings.Contains(page, "<script>alert") || strings.ContainsRune(page, 0x1b) || strings.Contains(page, "<b>") {
		t.Errorf("the page carries the mirror's markup or escapes as such:\n%s", page)
	}
	for _, p := range []string{"/mirrors/m2", "/api/mirrors/m2", "/api/mirrors/m2/telemetry", "/api/mirrors/m2/config"} {
		if resp, _ := op.get(t, p); resp.StatusCode != 404 {
			t.Errorf("GET %s (unknown mirror) = %s, want 404", p, resp.Status)
		}
	}
	anon := f.anonymous()
	for _, p := range []string{"/api/mirrors/m1", "/api/mirrors/m1/telemetry", "/api/mirrors/m1/config"} {
		if resp, _ := anon.get(t, p); resp.StatusCode != 401 {
			t.Errorf("GET %s without a session = %s, want 401", p, resp.Status)
		}
	}
	if resp, _ := anon.get(t, "/mirrors/m1"); resp.StatusCode != 303 {
		t.Errorf("GET /mirrors/m1 without a session = %s, want a redirect to the login", resp.Status)
	}
	if es := audit(t, f.st); !strings.Contains(fmt.Sprint(es), "config version 2") {
		t.Errorf("the audit log lacks the configuration: %+v", es)
	}
}

// The hub keeps a mirror's telemetry a minute a point for 24 h: /api/mirrors/{id}/telemetry
// averages each minute (no temperature where none was read), drops what is older than a
// day, and the page draws fps, CPU, temperature and disk as SVG with a gap where the mirror
// was silent; the timeline lists its events with their strings as text.
func TestMirrorTelemetryAndTimeline(t *testing.T) {
	clk := newClock()
	e := newEnv(t, nil, clk.Now, func(o *console.Options) { o.Events = o.Store.(hubstore.MirrorEventStore) })
	pw := e.addOperator(t, "vera", hubstore.RoleViewer)
	st, _ := json.Marshal(wire.Status{State: wire.StateOnline, Version: "1.0"})
	e.fleet.Handle("mirror/m1/status", st)
	tele := func(fps, cpu float64, temp *float64) {
		b, _ := json.Marshal(wire.Telemetry{FPS: fps, CPUPct: cpu, TempC: temp, DiskFreeMB: 1000})
		e.fleet.Handle("mirror/m1/telemetry", b)
	}
	t50, t60 := 50.0, 60.0
	tele(10, 20, &t50) // 10:00:00, a day old at the end: dropped
	clk.Add(time.Hour)
	for range 30 { // 11:00 to 11:29, two readings a minute
		tele(10, 20, &t50)
		clk.Add(30 * time.Second)
		tele(14, 40, &t60)
		clk.Add(30 * time.Second)
	}
	clk.Add(2 * time.Hour) // silent from 11:30 to 13:30
	tele(15, 10, nil)
	clk.Add(21 * time.Hour) // next day 10:30: 10:00 is over 24 h ago
	tele(15, 10, nil)
	op := e.login(t, "vera", pw) // now: sessions end after 12 h
	var v struct {
		ID     string          `json:"id"`
		StepS  int             `json:"step_s"`
		Points []console.Point `json:"points"`
	}
	_, body := op.get(t, "/api/mirrors/m1/telemetry")
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	if v.ID != "m1" || v.StepS != 60 || len(v.Points) != 32 {
		t.Fatalf("telemetry: id %s, step %d, %d points, want 32 minutes (30 + 2): %s", v.ID, v.StepS, len(v.Points), body)
	}
	p := v.Points[0]
	if !p.At.Equal(time.Date(2026, 12, 7, 11, 0, 0, 0, time.UTC)) || p.FPS != 12 || p.CPU != 30 || p.Temp == nil || *p.Temp != 55 || p.Disk != 1000 {
		t.Errorf("first point = %+v, want 11:00 averaged: 12 fps, 30 %%, 55 °C", p)
	}
	if last := v.Points[31]; last.Temp != nil || last.FPS != 15 {
		t.Errorf("last point = %+v, want no temperature", last)
	}
	e.st.AddMirrorEvent(t.Context(), hubstore.MirrorEvent{Device: "m1", Seq: 1, ID: "e1", Type: "camera.lost", At: clk.Now(), Data: []byte(`{"reason":"<img src=x onerror=alert(1)>\u001b[31m"}`)})
	e.st.AddMirrorEvent(t.Context(), hubstore.MirrorEvent{Device: "m1", Seq: 2, ID: "e2", Type: "config.applied", At: clk.Now(), Data: []byte(`{"version":3}`)})
	_, page := op.get(t, "/mirrors/m1")
	for _, id := range []string{"chart-fps", "chart-cpu", "chart-temp", "chart-disk"} {
		i := strings.Index(page, `id="`+id+`"`)
		if i < 0 {
			t.Fatalf("no chart %s on the page:\n%s", id, page)
		}
		fig := page[i : i+strings.Index(page[i:], "</figure>")]
		want := 2 // the 30 minutes, the lone minute after the silence (the last, 21 h on, is a third)
		if id == "chart-temp" {
			want = 1 // only the 30 minutes had a temperature
		}
		if n := strings.Count(fig, "<polyline"); n < want {
			t.Errorf("%s has %d lines, want the gap of the silence to split it:\n%s", id, n, fig)
		}
	}
	if !strings.Contains(page, `data-seq="2"`) || !strings.Contains(page, "config.applied") || !strings.Contains(page, `&lt;img src=x onerror=alert(1)&gt;\u001b[31m`) {
		t.Errorf("the timeline lacks the events, or shows their strings other than as text:\n%s", page)
	}
	if strings.Contains(page, "<img") || strings.ContainsRune(page, 0x1b) {
		t.Errorf("the page carries the mirror's markup or escapes as such")
	}
}

// The update command from the mirror page: the console sends the release of the asked version
// for the mirror's architecture with a rollout's arguments (URL on the hub, sha256, size,
// signature) and shows the mirror's answer; a version the hub does not keep is 404 and nothing
// is sent; a viewer gets 403. The page offers the mirror's architecture's versions.
func TestMirrorUpdate(t *testing.T) {
	f := newFleetEnv(t, func(o *console.Options) { o.Releases = o.Store.(hubstore.ReleaseStore) })
	for _, rel := range []hubstore.Release{
		{Version: "1.5.0", Arch: "arm64", Package: "fitmirror-agent", SHA256: strings.Repeat("ab", 32), Size: 1234, Signature: "untrusted comment: sig\nRW…", KeyID: "0123456789abcdef", CreatedAt: time.Now()},
		{Version: "1.5.0", Arch: "amd64", Package: "fitmirror-agent", SHA256: strings.Repeat("cd", 32), Size: 999, Signature: "x", KeyID: "0123456789abcdef", CreatedAt: time.Now()},
		{Version: "1.6.0~rc1", Arch: "amd64", Package: "fitmirror-agent", SHA256: strings.Repeat("ef", 32), Size: 5, Signature: "y", KeyID: "0123456789abcdef", CreatedAt: time.Now()},
	} {
		if err := f.st.AddRelease(t.Context(), rel); err != nil {
			t.Fatal(err)
		}
	}
	spy := paho.NewClient(paho.NewClientOptions().AddBroker(f.mq.URL()).SetClientID("m1-spy").SetUsername("m1").SetPassword("m1pw").SetProtocolVersion(4))
	if tok := spy.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("spy connect: %v", tok.Error())
	}
	t.Cleanup(func() { spy.Disconnect(0) })
	sent := make(chan wire.CommandRequest, 4)
	spy.Subscribe("mirror/m1/cmd/update", 1, func(_ paho.Client, msg paho.Message) {
		var req wire.CommandRequest
		json.Unmarshal(msg.Payload(), &req)
		sent <- req
	}).Wait()
	op := f.login(t, "otto", f.addOperator(t, "otto", hubstore.RoleOperator))
	viewer := f.login(t, "vera", f.addOperator(t, "vera", hubstore.RoleViewer))
	f.publish(t, "mirror/m1/status", true, wire.Status{State: wire.StateOnline, Version: "1.4.0", Arch: "arm64"})
	waitFor(t, "m1 in the fleet", func() bool { ms := op.mirrors(t, ""); return len(ms) == 1 && ms[0].Arch == "arm64" })

	if resp, body := viewer.post(t, "/api/mirrors/m1/cmd/update", `{"version":"1.5.0"}`, true); resp.StatusCode != 403 {
		t.Errorf("a viewer's update = %s %s, want 403", resp.Status, body)
	}
	if resp, body := op.post(t, "/api/mirrors/m1/cmd/update", `{"version":"1.6.0~rc1"}`, true); resp.StatusCode != 404 || !strings.Contains(body, "no release 1.6.0~rc1 for architecture arm64") {
		t.Errorf("update to a version without an arm64 release = %s %s, want 404 naming it", resp.Status, body)
	}
	if resp, body := op.post(t, "/api/mirrors/m1/cmd/update", `{}`, true); resp.StatusCode != 400 {
		t.Errorf("update without a version = %s %s, want 400", resp.Status, body)
	}
	resp, body := op.post(t, "/api/mirrors/m1/cmd/update", `{"version":"1.5.0"}`, true)
	if resp.StatusCode != 200 || !strings.Contains(body, `"ok":true`) {
		t.Errorf("update = %s %s, want the mirror's answer", resp.Status, body)
	}
	var req wire.CommandRequest
	select {
	case req = <-sent:
	case <-time.After(5 * time.Second):
		t.Fatal("no update command reached m1")
	}
	var args wire.UpdateArgs
	json.Unmarshal(req.Args, &args)
	if args.Version != "1.5.0" || args.URL != "/v1/releases/1.5.0/arm64" || args.SHA256 != strings.Repeat("ab", 32) || args.Size != 1234 || !strings.HasPrefix(args.Signature, "untrusted comment") || args.AllowDowngrade {
		t.Errorf("update args = %+v, want the arm64 release's", args)
	}
	select {
	case extra := <-sent:
		t.Errorf("a second update reached m1: %+v (the refused ones must send nothing)", extra)
	case <-time.After(200 * time.Millisecond):
	}
	_, page := op.get(t, "/mirrors/m1")
	if !strings.Contains(page, `<select id="update-version"><option>1.5.0</option></select>`) {
		t.Errorf("the page's update offers other than the arm64 versions:\n%s", page)
	}
	if _, page = viewer.get(t, "/mirrors/m1"); strings.Contains(page, "update-version") {
		t.Error("a viewer's page offers the update")
	}
}

// The history is a ring of 1,440 minutes: after 25 hours of telemetry a minute it holds the
// last 24 h, oldest first, in order across the ring's seam; a clock that goes back adds nothing.
func TestTelemetryHistoryRing(t *testing.T) {
	clk := newClock()
	f := console.NewFleet("mirror", clk.Now)
	start := clk.Now()
	for i := range 25 * 60 {
		b, _ := json.Marshal(wire.Telemetry{FPS: float64(i), DiskFreeMB: 1})
		f.Handle("mirror/m1/telemetry", b)
		clk.Add(time.Minute)
	}
	clk.Add(-time.Minute) // now: the last minute
	pts, ok := f.Telemetry("m1")
	if !ok || len(pts) != 24*60 {
		t.Fatalf("%d points (%v), want 1440", len(pts), ok)
	}
	for i, p := range pts {
		want := 60 + i
		if p.FPS != float64(want) || !p.At.Equal(start.Add(time.Duration(want)*time.Minute)) {
			t.Fatalf("point %d = %+v, want minute %d", i, p, want)
		}
	}
	clk.Add(-time.Hour)
	b, _ := json.Marshal(wire.Telemetry{FPS: 1000})
	f.Handle("mirror/m1/telemetry", b)
	clk.Add(time.Hour)
	if pts, _ = f.Telemetry("m1"); len(pts) != 24*60 || pts[len(pts)-1].FPS != 25*60-1 {
		t.Errorf("after a reading an hour back: %d points, last %+v", len(pts), pts[len(pts)-1])
	}
	if _, ok := f.Telemetry("m2"); ok {
		t.Error("telemetry of a mirror never heard of")
	}
}
