package fleet

import (
	"context"
	"encoding/json"
	"time"

	"github.com/fitmirror/fitmirror/internal/wire"
)

// telemetryLoop publishes telemetry at QoS 0 once on connect and then every interval.
func (c *Client) telemetryLoop(ctx context.Context, cn *conn) {
	if c.opts.TelemetryInterval < 0 {
		return
	}
	t := time.NewTicker(c.opts.TelemetryInterval)
	defer t.Stop()
	for {
		b, err := json.Marshal(c.telemetry(ctx))
		if err == nil {
			cn.mc.Publish(c.topics.Telemetry(), 0, false, b) // QoS 0: nothing to wait for
		} else {
			c.log.Warn("telemetry not encodable", "err", err)
		}
		select {
		case <-t.C:
		case <-cn.lost:
			return
		case <-ctx.Done():
			return
		}
	}
}

// telemetry is the agent's measurements plus what the client knows.
func (c *Client) telemetry(ctx context.Context) wire.Telemetry {
	var t wire.Telemetry
	if c.opts.Telemetry != nil {
		t = c.opts.Telemetry(ctx)
	}
	now := c.opts.Now()
	t.At = wire.Time{Time: now}
	t.UptimeS = int64(now.Sub(c.start) / time.Second)
	t.Version = c.opts.Version
	c.mu.Lock()
	t.TargetVersion = c.target
	c.mu.Unlock()
	if c.opts.Outbox != nil {
		if n, err := c.opts.Outbox.Depth(ctx); err == nil {
			t.OutboxDepth = n
		}
	}
	t.OutboxDropped = c.dropped.Load()
	if t.Session.State == "" {
		t.Session.State = "unknown"
	}
	return t
}
