package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/fitmirror/fitmirror/internal/wire"
)

// history fetches the last n events the hub keeps of mirror id from the fleet console at
// c.console, logged in as c.operator with the password from MIRRORCTL_CONSOLE_PASSWORD; oldest
// first.
func (c *app) history(ctx context.Context, id string, n int) ([]wire.KeptEvent, error) {
	base, err := url.Parse(strings.TrimRight(c.console, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fail(exitUsage, "--console %q: want the console's URL, e.g. http://127.0.0.1:8091 (mirror-cloud's console.listen)", c.console)
	}
	pw := os.Getenv("MIRRORCTL_CONSOLE_PASSWORD")
	if c.operator == "" || pw == "" {
		return nil, fail(exitUsage, "--console needs an operator: --operator NAME (or MIRRORCTL_OPERATOR) and MIRRORCTL_CONSOLE_PASSWORD")
	}
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: c.timeout}
	login, err := c.consoleDo(ctx, hc, "POST", base.String()+"/login", url.Values{"name": {c.operator}, "password": {pw}})
	if err != nil {
		return nil, err
	}
	login.Close()
	body, err := c.consoleDo(ctx, hc, "GET", base.String()+"/api/mirrors/"+url.PathEscape(id)+"/events?limit="+strconv.Itoa(n), nil)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	var es []wire.KeptEvent
	if err := json.NewDecoder(io.LimitReader(body, 8<<20)).Decode(&es); err != nil {
		return nil, fail(exitUsage, "console %s: the events are not JSON: %v", c.console, err)
	}
	for i, j := 0, len(es)-1; i < j; i, j = i+1, j-1 {
		es[i], es[j] = es[j], es[i]
	}
	return es, nil
}

// consoleDo sends one request to the console and returns the body of a 200 answer; any other
// answer is an error with the console's own message.
func (c *app) consoleDo(ctx context.Context, hc *http.Client, method, u string, form url.Values) (io.ReadCloser, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fail(exitUsage, "console: %v", err)
	}
	req.Header.Set("Accept", "application/json")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fail(exitUsage, "console %s does not answer: %v", c.console, err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp.Body, nil
	}
	defer resp.Body.Close()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&e)
	msg := e.Error.Message
	return nil, fail(exitUsage, "console %s %s: %s %s", method, req.URL.Path, resp.Status, safe(msg, maxCell))
}

// historyRows are the rows of events in the table's cells, or their JSON lines.
func (c *app) historyRows(id string, es []wire.KeptEvent) [][]string {
	rows := make([][]string, 0, len(es))
	enc := json.NewEncoder(c.out)
	for _, e := range es {
		if c.jsonOut {
			var data any = e.Data
			if json.Valid([]byte(e.Data)) {
				data = json.RawMessage(e.Data)
			}
			enc.Encode(map[string]any{"mirror": id, "event": map[string]any{"seq": e.Seq, "type": e.Type, "at": e.At,
				"session_id": e.SessionID, "photo_id": e.PhotoID, "data": data}})
			rows = append(rows, nil)
			continue
		}
		rows = append(rows, []string{cell(id), strconv.FormatUint(e.Seq, 10), cell(e.At), cell(e.Type), cell(e.SessionID), cell(e.PhotoID), cell(e.Data)})
	}
	return rows
}

// noHistoryHint is said when events shows only what arrives while it listens.
func noHistoryHint(timeout time.Duration) string {
	return fmt.Sprintf("mirrorctl: no events within %s (mirrorctl shows the events sent while it listens; -f follows, --timeout waits longer; with --console and an ID, the events the hub keeps)", timeout)
}
