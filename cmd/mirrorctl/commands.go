package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/oklog/ulid/v2"

	"github.com/fitmirror/fitmirror/cloud/fleet"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// msg is a received message.
type msg struct {
	topic    string
	payload  []byte
	retained bool
}

// conn is one MQTT connection of mirrorctl (clean session, random client ID).
type conn struct {
	mc mqtt.Client
	ch chan msg
	c  *app
}

func (c *app) connect() (*conn, error) {
	s := &conn{ch: make(chan msg, 4096), c: c}
	// MQTT 3.1.1 only: paho would retry a refused CONNECT with 3.1 and report that error.
	o := mqtt.NewClientOptions().AddBroker(c.broker).SetProtocolVersion(4).
		SetClientID("mirrorctl-" + strings.ToLower(ulid.Make().String())).
		SetUsername(c.username).SetPassword(c.password).
		SetCleanSession(true).SetAutoReconnect(false).
		SetConnectTimeout(c.timeout).SetOrderMatters(true).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			s.ch <- msg{topic: m.Topic(), payload: m.Payload(), retained: m.Retained()}
		})
	if c.tlsCA != "" || c.tlsCert != "" || c.tlsKey != "" {
		cfg, err := fleet.TLSConfig(c.tlsCA, c.tlsCert, c.tlsKey)
		if err != nil {
			return nil, fail(exitUsage, "%v", err)
		}
		o.SetTLSConfig(cfg)
	}
	s.mc = mqtt.NewClient(o)
	tok := s.mc.Connect()
	if !tok.WaitTimeout(c.timeout + time.Second) {
		return nil, fail(exitUsage, "connect %s: no answer within %s", c.broker, c.timeout)
	}
	if err := tok.Error(); err != nil {
		return nil, fail(exitUsage, "connect %s as %q: %v", c.broker, c.username, err)
	}
	return s, nil
}

func (s *conn) close() { s.mc.Disconnect(100) }

func (s *conn) subscribe(filters ...string) error {
	m := map[string]byte{}
	for _, f := range filters {
		m[f] = 1
	}
	tok := s.mc.SubscribeMultiple(m, nil)
	if !tok.WaitTimeout(s.c.timeout) {
		return fail(exitTimeout, "subscribe %v: no SUBACK within %s", filters, s.c.timeout)
	}
	if err := tok.Error(); err != nil {
		return fail(exitUsage, "subscribe %v: %v", filters, err)
	}
	if s.c.subscribed != nil {
		s.c.subscribed(filters)
	}
	return nil
}

func (s *conn) publish(topic string, retained bool, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tok := s.mc.Publish(topic, 1, retained, b)
	if !tok.WaitTimeout(s.c.timeout) {
		return fail(exitTimeout, "publish %s: no PUBACK within %s", topic, s.c.timeout)
	}
	if err := tok.Error(); err != nil {
		return fail(exitUsage, "publish %s: %v", topic, err)
	}
	return nil
}

// retained collects the retained messages of filters: they arrive right after the SUBACK,
// so collection ends once the broker has been quiet for a moment.
func (s *conn) retained(ctx context.Context, filters ...string) (map[string][]byte, error) {
	if err := s.subscribe(filters...); err != nil {
		return nil, err
	}
	got := map[string][]byte{}
	quiet := 300 * time.Millisecond
	t := time.NewTimer(quiet)
	defer t.Stop()
	deadline := time.After(s.c.timeout)
	for {
		select {
		case m := <-s.ch:
			if m.retained {
				got[m.topic] = m.payload
			}
			t.Reset(quiet)
		case <-t.C:
			return got, nil
		case <-deadline:
			return got, nil
		case <-ctx.Done():
			return got, ctx.Err()
		}
	}
}

// mirrorRow is one line of ls.
type mirrorRow struct {
	ID string `json:"id"`
	wire.Status
	// LastSeen is now for a connected mirror, else when it went offline.
	LastSeen wire.Time `json:"last_seen"`
}

func (c *app) ls(ctx context.Context) error {
	s, err := c.connect()
	if err != nil {
		return err
	}
	defer s.close()
	got, err := s.retained(ctx, c.prefix+"/+/status")
	if err != nil {
		return err
	}
	rows := []mirrorRow{}
	for topic, p := range got {
		id, ok := wire.DeviceOf(c.prefix, topic)
		if !ok {
			continue
		}
		r := mirrorRow{ID: id}
		if err := json.Unmarshal(p, &r.Status); err != nil {
			r.State, r.Reason = "", "unreadable status: "+err.Error()
		}
		r.LastSeen = r.Since
		if r.State == wire.StateOnline || r.State == wire.StateDegraded {
			r.LastSeen = wire.Time{Time: time.Now()}
		}
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].ID < rows[j].ID })
	if c.jsonOut {
		return c.printJSON(rows)
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MIRROR\tSTATE\tVERSION\tLAST SEEN\tSINCE\tREASON")
	for _, r := range rows {
		seen := "now"
		if r.State != wire.StateOnline && r.State != wire.StateDegraded {
			seen = ago(r.LastSeen)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", cell(r.ID), state(r.State), cell(r.Version), seen, ago(r.Since), cell(r.Reason))
	}
	return tw.Flush()
}

// ago renders a time for people: "2026-11-20 10:00:00Z (5m ago)".
func ago(t wire.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Since(t.Time).Round(time.Second)
	return fmt.Sprintf("%s (%s ago)", t.UTC().Format("2006-01-02 15:04:05Z"), d)
}

func (c *app) printJSON(v any) error {
	enc := json.NewEncoder(c.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (c *app) status(ctx context.Context, id string) error {
	s, err := c.connect()
	if err != nil {
		return err
	}
	defer s.close()
	t := c.topics(id)
	got, err := s.retained(ctx, t.Status(), t.Reported(), t.Desired())
	if err != nil {
		return err
	}
	if got[t.Status()] == nil {
		return fail(exitRefused, "no status for %q on %s (never connected, or another topic prefix?)", id, c.broker)
	}
	out := struct {
		ID       string          `json:"id"`
		Status   json.RawMessage `json:"status"`
		Reported json.RawMessage `json:"reported,omitempty"`
		Desired  json.RawMessage `json:"desired,omitempty"`
	}{id, got[t.Status()], got[t.Reported()], got[t.Desired()]}
	if c.jsonOut {
		return c.printJSON(out)
	}
	var st wire.Status
	json.Unmarshal(out.Status, &st)
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "mirror\t%s\n", cell(id))
	fmt.Fprintf(tw, "state\t%s\n", state(st.State))
	fmt.Fprintf(tw, "since\t%s\n", ago(st.Since))
	fmt.Fprintf(tw, "version\t%s\n", cell(st.Version))
	fmt.Fprintf(tw, "reason\t%s\n", cell(st.Reason))
	if out.Reported != nil {
		var r wire.Reported
		json.Unmarshal(out.Reported, &r)
		if r.Error != nil { // the version was refused: the keys below are the ones still in effect
			fmt.Fprintf(tw, "config version\t%d refused (%s)\n", r.Version, ago(r.AppliedAt))
			fmt.Fprintf(tw, "config error\t%s: %s\n", cell(r.Error.Code), cell(r.Error.Message))
		} else {
			fmt.Fprintf(tw, "config version\t%d (applied %s)\n", r.Version, ago(r.AppliedAt))
		}
		if sets, err := fleet.Flatten(r.Config); err == nil {
			for _, kv := range sets {
				k, v, _ := strings.Cut(kv, "=")
				fmt.Fprintf(tw, "  %s\t%s\n", cell(k), cell(v))
			}
		}
	}
	return tw.Flush()
}

func (c *app) cmd(ctx context.Context, id, name, argsJSON string) error {
	if name == "" || strings.ContainsAny(name, "/+#") {
		return fail(exitUsage, "cmd: %q is not a command name", name)
	}
	req := wire.CommandRequest{ID: ulid.Make().String(), ExpiresAt: &wire.Time{Time: time.Now().Add(c.timeout)}}
	if argsJSON != "" {
		var obj map[string]any
		if err := json.Unmarshal([]byte(argsJSON), &obj); err != nil {
			return fail(exitUsage, "cmd %s: args must be a JSON object: %v", name, err)
		}
		req.Args = json.RawMessage(argsJSON)
	}
	s, err := c.connect()
	if err != nil {
		return err
	}
	defer s.close()
	t := c.topics(id)
	if err := s.subscribe(t.Result(name)); err != nil {
		return err
	}
	if err := s.publish(t.Command(name), false, req); err != nil {
		return err
	}
	deadline := time.After(c.timeout)
	for {
		select {
		case m := <-s.ch:
			var r wire.CommandResult
			if m.topic != t.Result(name) || json.Unmarshal(m.payload, &r) != nil || r.ID != req.ID {
				continue
			}
			if r.OK {
				if err := decodeResult(name, r.Data); err != nil {
					return fail(exitRefused, "%s %s: %v", id, name, err)
				}
			}
			if c.jsonOut {
				if err := c.printJSON(json.RawMessage(m.payload)); err != nil {
					return err
				}
			} else if r.OK {
				printResult(c.out, name, r.Data)
			}
			if !r.OK {
				if r.Error == nil {
					return fail(exitRefused, "%s %s: failed", id, name)
				}
				return fail(exitRefused, "%s %s: %s: %s", id, name, cell(r.Error.Code), cell(r.Error.Message))
			}
			return nil
		case <-deadline:
			return fail(exitTimeout, "%s %s: no result within %s (offline? see mirrorctl status %s)", id, name, c.timeout, id)
		case <-ctx.Done():
			return fail(exitTimeout, "%s %s: interrupted", id, name)
		}
	}
}

// results are the data types of the commands' results (docs/contracts.md §1): mirrorctl
// decodes a command's result with its type. Other commands' data is printed as it came.
var results = map[string]func() any{
	wire.CmdPing:        func() any { return new(wire.PingResult) },
	wire.CmdEndSession:  func() any { return new(wire.EndSessionResult) },
	wire.CmdPurgePhotos: func() any { return new(wire.PurgePhotosResult) },
	wire.CmdSetLight:    func() any { return new(wire.SetLightResult) },
	wire.CmdAnalytics:   func() any { return new(wire.Analytics) },
	wire.CmdRestart:     func() any { return new(wire.RestartResult) },
	wire.CmdSnapshot:    func() any { return new(wire.SnapshotResult) },
	wire.CmdUpdate:      func() any { return new(wire.UpdateResult) },
	// forget-photos is the hub's; an operator may send it too.
	wire.CmdForgetPhotos: func() any { return new(wire.ForgetPhotosResult) },
}

// decodeResult checks that the data of a successful result of the command name decodes as
// its result type (fields added by a newer mirror are allowed).
func decodeResult(name string, data json.RawMessage) error {
	newResult, ok := results[name]
	if !ok || len(data) == 0 {
		return nil
	}
	v := newResult()
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("the result's data does not decode as the %s result (%s): %v", name, clipped(data), err)
	}
	return nil
}

// printResult writes a successful result for people: "ok" and its data, an analytics result
// as a table, a snapshot as its size (--json has the frame).
func printResult(w io.Writer, name string, data json.RawMessage) {
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	switch name {
	case wire.CmdAnalytics:
		var a wire.Analytics
		json.Unmarshal(data, &a) // decodeResult checked it
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "ok\n")
		fmt.Fprintf(tw, "sessions\t%d\n", a.Sessions)
		fmt.Fprintf(tw, "average dwell\t%s\n", millis(a.AvgDwellMs))
		fmt.Fprintf(tw, "photos\t%d (%.2f per session)\n", a.Photos, a.PhotosPerSession)
		fmt.Fprintf(tw, "QR shown\t%d\n", a.QRShown)
		fmt.Fprintf(tw, "bound\t%d (conversion %.1f%%)\n", a.Bound, 100*a.Conversion)
		fmt.Fprintf(tw, "average time to scan\t%s\n", millis(a.AvgTimeToScanMs))
		tw.Flush()
	case wire.CmdSnapshot:
		var s wire.SnapshotResult
		json.Unmarshal(data, &s)
		fmt.Fprintf(w, "ok snapshot %dx%d, %d bytes of JPEG (--json prints it, base64 in data.jpeg_base64)\n", s.Width, s.Height, len(s.JPEG))
	default:
		fmt.Fprintf(w, "ok %s\n", safe(string(data), 4*maxCell))
	}
}

// millis renders a duration in milliseconds for people ("1m23.4s").
func millis(ms float64) string {
	return time.Duration(ms * float64(time.Millisecond)).Round(100 * time.Millisecond).String()
}

// clipped is data for an error message: at most 200 bytes of it.
func clipped(data []byte) string { return safe(string(data), 200) }

// config merges key=value settings into the retained desired configuration, raises its
// version above both the desired and the reported one, and waits for the mirror's report.
func (c *app) config(ctx context.Context, id string, sets []string) error {
	s, err := c.connect()
	if err != nil {
		return err
	}
	defer s.close()
	t := c.topics(id)
	got, err := s.retained(ctx, t.Desired(), t.Reported())
	if err != nil {
		return err
	}
	var desired wire.Desired
	var reported wire.Reported
	if p := got[t.Desired()]; p != nil {
		if err := json.Unmarshal(p, &desired); err != nil {
			return fail(exitUsage, "current desired config of %s is unreadable: %v", id, err)
		}
	}
	if p := got[t.Reported()]; p != nil {
		json.Unmarshal(p, &reported)
	}
	merged, err := fleet.Unflatten(desired.Config, sets)
	if err != nil {
		return fail(exitUsage, "config: %v", err)
	}
	// The next version is above both, leaving out of range ones (a forged or corrupt message):
	// the new desired configuration replaces them.
	last := int64(0)
	for _, v := range []int64{desired.Version, reported.Version} {
		if v >= 1 && v <= wire.MaxConfigVersion {
			last = max(last, v)
		}
	}
	if last >= wire.MaxConfigVersion {
		return fail(exitUsage, "config: %s's configuration version is at its maximum (%d)", id, last)
	}
	next := wire.Desired{Version: last + 1, Config: merged}
	if err := s.publish(t.Desired(), true, next); err != nil {
		return err
	}
	deadline := time.After(c.timeout)
	for {
		select {
		case m := <-s.ch:
			var r wire.Reported
			if m.topic != t.Reported() || json.Unmarshal(m.payload, &r) != nil || r.Version != next.Version {
				continue
			}
			if c.jsonOut {
				if err := c.printJSON(json.RawMessage(m.payload)); err != nil {
					return err
				}
			}
			if r.Error != nil {
				return fail(exitRefused, "%s refused config version %d: %s", id, r.Version, cell(r.Error.Message))
			}
			if !c.jsonOut {
				fmt.Fprintf(c.out, "%s applied config version %d\n", id, r.Version)
			}
			return nil
		case <-deadline:
			return fail(exitTimeout, "%s: desired config version %d published (retained), no report within %s; the mirror applies it when it connects", id, next.Version, c.timeout)
		case <-ctx.Done():
			return fail(exitTimeout, "interrupted")
		}
	}
}

// eventColumns are the columns of events; with -f each row is printed as it comes, so the
// columns have fixed widths (a longer value pushes the rest of its row to the right).
var eventColumns = []struct {
	title string
	width int
}{{"MIRROR", 16}, {"SEQ", 6}, {"AT", 24}, {"TYPE", 16}, {"SESSION", 26}, {"PHOTO", 26}, {"DATA", 0}}

// eventLine is one row of events -f, its cells padded to eventColumns.
func eventLine(cells ...string) string {
	var b strings.Builder
	for i, col := range eventColumns {
		if i == len(eventColumns)-1 {
			b.WriteString(cells[i])
			break
		}
		fmt.Fprintf(&b, "%-*s  ", col.width, cells[i])
	}
	return strings.TrimRight(b.String(), " ") + "\n"
}

// events prints the events mirror id (or every mirror, "+") sends while mirrorctl listens:
// for --timeout as one table, or with follow one row per event until ctx ends. MQTT does not
// retain events, so a quiet fleet gives none: that is said on stderr. kept are the rows of
// the events the hub keeps (--console): they come first, and without follow they are the
// whole answer, at once.
func (c *app) events(ctx context.Context, id string, follow bool, kept [][]string) error {
	titles := make([]string, len(eventColumns))
	for i, col := range eventColumns {
		titles[i] = col.title
	}
	if kept != nil && !follow {
		return c.eventTable(titles, kept)
	}
	s, err := c.connect()
	if err != nil {
		return err
	}
	defer s.close()
	if err := s.subscribe(c.topics(id).Events()); err != nil {
		return err
	}
	var stop <-chan time.Time
	if !follow {
		stop = time.After(c.timeout)
	}
	if follow && !c.jsonOut {
		fmt.Fprint(c.out, eventLine(titles...))
		for _, r := range kept {
			fmt.Fprint(c.out, eventLine(r...))
		}
	}
	var rows [][]string
	enc := json.NewEncoder(c.out)
	for {
		select {
		case m := <-s.ch:
			dev, ok := wire.DeviceOf(c.prefix, m.topic)
			if !ok {
				continue
			}
			var ev wire.Event
			if err := json.Unmarshal(m.payload, &ev); err != nil {
				continue
			}
			if c.jsonOut {
				enc.Encode(struct {
					Mirror string `json:"mirror"`
					Event  any    `json:"event"`
				}{dev, ev})
				rows = append(rows, nil)
				continue
			}
			row := []string{cell(dev), strconv.FormatUint(ev.Seq, 10), wire.FormatTime(ev.At.Time), cell(ev.Type), cell(ev.SessionID), cell(ev.PhotoID), cell(string(ev.Data))}
			if follow {
				fmt.Fprint(c.out, eventLine(row...))
			}
			rows = append(rows, row)
		case <-stop:
			return c.eventTable(titles, rows)
		case <-ctx.Done():
			return nil
		}
	}
}

// eventTable prints the events collected within --timeout, aligned under the header.
func (c *app) eventTable(titles []string, rows [][]string) error {
	if len(rows) == 0 {
		if c.console != "" {
			fmt.Fprintln(c.errOut, "mirrorctl: the hub keeps no events of this mirror (it keeps 30 days)")
		} else {
			fmt.Fprintln(c.errOut, noHistoryHint(c.timeout))
		}
		return nil
	}
	if c.jsonOut {
		return nil
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(titles, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// haDiscovery publishes (retained) the Home Assistant discovery messages of every mirror
// that has a status, or empty retained messages that remove them.
func (c *app) haDiscovery(ctx context.Context, haPrefix string, interval time.Duration, remove bool) error {
	s, err := c.connect()
	if err != nil {
		return err
	}
	defer s.close()
	got, err := s.retained(ctx, c.prefix+"/+/status")
	if err != nil {
		return err
	}
	mirrors, entities := 0, 0
	for topic, p := range got {
		id, ok := wire.DeviceOf(c.prefix, topic)
		if !ok {
			continue
		}
		var st wire.Status
		json.Unmarshal(p, &st)
		for t, payload := range fleet.HADiscovery(haPrefix, c.topics(id), st.Version, interval) {
			if remove {
				payload = nil
			}
			tok := s.mc.Publish(t, 1, true, payload)
			if !tok.WaitTimeout(c.timeout) {
				return fail(exitTimeout, "publish %s: no PUBACK within %s", t, c.timeout)
			}
			if err := tok.Error(); err != nil {
				return fail(exitUsage, "publish %s: %v", t, err)
			}
			entities++
		}
		mirrors++
	}
	verb := "announced"
	if remove {
		verb = "removed"
	}
	if c.jsonOut {
		return c.printJSON(map[string]int{"mirrors": mirrors, "entities": entities})
	}
	fmt.Fprintf(c.out, "%s %d entities of %d mirrors under %s/\n", verb, entities, mirrors, haPrefix)
	return nil
}
