package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// onCommand runs one command request and publishes its result. A request ID seen before is
// answered with the first result and not run again (also while the first run is going on).
func (c *Client) onCommand(ctx context.Context, mc mqtt.Client, name string, payload []byte) {
	var req wire.CommandRequest
	err := json.Unmarshal(payload, &req)
	if err != nil || req.ID == "" || len(req.ID) > maxRequestID {
		msg := "request must be a JSON object with a non-empty \"id\""
		switch {
		case err != nil:
			msg = fmt.Sprintf("request is not valid JSON: %v", err)
		case len(req.ID) > maxRequestID:
			msg = fmt.Sprintf("request id is longer than %d bytes", maxRequestID)
		}
		// The answer carries the request's id where one can be read, so that the sender can
		// match it (a bad "args" with a good "id", a request cut short after its id).
		id := readableID(payload)
		c.log.Warn("bad command request", "command", name, "id", id, "err", clip(msg))
		c.sendResult(mc, name, wire.CommandResult{ID: id, Error: &wire.Error{Code: wire.CodeBadArgs, Message: msg}})
		return
	}
	entry, first := c.requests.begin(req.ID)
	if !first {
		select {
		case <-entry.done:
		case <-ctx.Done():
			return
		}
		c.log.Info("repeated command request answered with the first result", "command", name, "id", req.ID)
		c.sendResult(mc, name, entry.result)
		return
	}
	res := c.runCommand(ctx, name, req)
	c.requests.finish(entry, res)
	c.sendResult(mc, name, res)
}

func (c *Client) runCommand(ctx context.Context, name string, req wire.CommandRequest) wire.CommandResult {
	res := wire.CommandResult{ID: req.ID}
	if req.ExpiresAt != nil && !req.ExpiresAt.IsZero() && !c.opts.Now().Before(req.ExpiresAt.Time) {
		res.Error = &wire.Error{Code: wire.CodeExpired, Message: fmt.Sprintf("request expired at %s", req.ExpiresAt.UTC().Format(wire.TimeFormat))}
		c.log.Info("expired command refused", "command", name, "id", req.ID)
		return res
	}
	if name == wire.CmdSnapshot && !c.opts.AllowSnapshot {
		res.Error = &wire.Error{Code: wire.CodeForbidden, Message: "snapshot is off on this mirror (fleet.allow_snapshot: false)"}
		return res
	}
	fn, ok := c.opts.Commands[name]
	if !ok && name == wire.CmdPing {
		fn, ok = c.ping, true
	}
	if !ok {
		res.Error = &wire.Error{Code: wire.CodeUnknownCommand, Message: fmt.Sprintf("no command %q", name)}
		return res
	}
	args := req.Args
	if len(args) > 0 && !json.Valid(args) {
		res.Error = &wire.Error{Code: wire.CodeBadArgs, Message: "args are not valid JSON"}
		return res
	}
	c.log.Info("running command", "command", name, "id", req.ID)
	data, err := fn(ctx, args)
	if err != nil {
		var fe *wire.Error
		if errors.As(err, &fe) {
			res.Error = &wire.Error{Code: fe.Code, Message: fe.Message}
		} else {
			res.Error = &wire.Error{Code: wire.CodeFailed, Message: err.Error()}
		}
		return res
	}
	res.Data = json.RawMessage(`{}`)
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			res.Data = nil
			res.Error = &wire.Error{Code: wire.CodeFailed, Message: fmt.Sprintf("result not encodable: %v", err)}
			return res
		}
		res.Data = b
	}
	res.OK = true
	return res
}

// ping is the built-in "ping" command.
func (c *Client) ping(context.Context, json.RawMessage) (any, error) {
	return wire.PingResult{Version: c.opts.Version, UptimeS: int64(c.opts.Now().Sub(c.start) / time.Second)}, nil
}

func (c *Client) sendResult(mc mqtt.Client, name string, res wire.CommandResult) {
	if res.Error != nil {
		// Error messages may quote arguments: never echo a large one back.
		res.Error = &wire.Error{Code: res.Error.Code, Message: clip(res.Error.Message)}
	}
	b, _ := json.Marshal(res)
	if err := c.publish(mc, c.topics.Result(name), false, b); err != nil {
		c.log.Warn("command result not published", "command", name, "id", res.ID, "err", err)
	}
}

// maxRequestID bounds a command request's id; maxErrorMessage an error message in a result.
const (
	maxRequestID    = 128
	maxErrorMessage = 300
)

// clip shortens s to maxErrorMessage bytes (on a character boundary) and says so.
func clip(s string) string {
	if len(s) <= maxErrorMessage {
		return s
	}
	cut := maxErrorMessage
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("… (%d bytes cut)", len(s)-cut)
}

// readableID is the top-level "id" string of a request that does not decode whole (a bad
// "args", a request cut short): the JSON tokens are read until the id or the first error.
func readableID(payload []byte) string {
	dec := json.NewDecoder(bytes.NewReader(payload))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return ""
	}
	for {
		key, err := dec.Token()
		if err != nil {
			return ""
		}
		k, ok := key.(string)
		if !ok {
			return ""
		}
		if k == "id" {
			v, err := dec.Token()
			if s, ok := v.(string); err == nil && ok && len(s) <= maxRequestID {
				return s
			}
			return ""
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return ""
		}
	}
}

// requestLog remembers the results of the last max request IDs.
type requestLog struct {
	mu    sync.Mutex
	max   int
	m     map[string]*request
	order []string // oldest first
}

type request struct {
	done   chan struct{}
	result wire.CommandResult
}

func newRequestLog(max int) *requestLog {
	return &requestLog{max: max, m: make(map[string]*request)}
}

// begin returns the entry for id and whether this is its first appearance.
func (l *requestLog) begin(id string) (*request, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r, ok := l.m[id]; ok {
		return r, false
	}
	r := &request{done: make(chan struct{})}
	l.m[id] = r
	l.order = append(l.order, id)
	for len(l.order) > l.max {
		old := l.m[l.order[0]]
		select {
		case <-old.done:
		default: // still running: keep it (and everything younger) a while longer
			return r, true
		}
		delete(l.m, l.order[0])
		l.order = l.order[1:]
	}
	return r, true
}

func (l *requestLog) finish(r *request, res wire.CommandResult) {
	r.result = res
	close(r.done)
}

func (l *requestLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
