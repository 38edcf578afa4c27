package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// publishEvents drains the outbox on one connection: batches of up to EventBatch events are
// published in order at QoS 1 and acknowledged in the outbox (deleted) only up to the last
// event whose PUBACK arrived. It returns nil when ctx ends and an error when the connection
// must be dropped (a PUBACK that never came). Whatever was not acknowledged is published
// again on the next connection, starting from the oldest event still in the outbox.
func (c *Client) publishEvents(ctx context.Context, cn *conn) error {
	ob := c.opts.Outbox
	if ob == nil {
		return nil
	}
	var after uint64 // everything still in the outbox is unacknowledged
	poll := time.NewTicker(5 * time.Second)
	defer poll.Stop()
	for {
		batch, err := ob.Pending(ctx, after, c.opts.EventBatch)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			c.log.Error("outbox unreadable", "err", err)
			batch = nil
		}
		if len(batch) == 0 {
			select {
			case <-ob.Appended():
			case <-poll.C: // an Append signalled before this loop started, or a read error
			case <-ctx.Done():
				return nil
			}
			continue
		}
		toks := make([]mqtt.Token, len(batch))
		for i, ev := range batch {
			b, err := json.Marshal(ev)
			if err != nil { // data that is not JSON: send the event without it, keep seq whole
				c.log.Error("event data is not valid JSON; published without it", "seq", ev.Seq, "type", ev.Type, "err", err)
				ev.Data = nil
				if b, err = json.Marshal(ev); err != nil {
					return fmt.Errorf("fleet: event %d: %w", ev.Seq, err)
				}
			}
			toks[i] = cn.mc.Publish(c.topics.Events(), 1, false, b)
		}
		timeout := time.NewTimer(c.opts.PublishTimeout)
		acked := -1
		var failure error
	wait:
		for i, tok := range toks {
			select {
			case <-tok.Done():
				if err := tok.Error(); err != nil {
					failure = fmt.Errorf("fleet: publish event %d: %w", batch[i].Seq, err)
					break wait
				}
				acked = i
			case <-cn.lost:
				break wait
			case <-timeout.C:
				failure = fmt.Errorf("fleet: publish event %d: no PUBACK within %s", batch[i].Seq, c.opts.PublishTimeout)
				break wait
			case <-ctx.Done():
				break wait
			}
		}
		timeout.Stop()
		if acked >= 0 {
			after = batch[acked].Seq
			// A failed Ack leaves the events in the outbox; the next Ack (<= seq) removes them.
			if err := ob.Ack(context.WithoutCancel(ctx), after); err != nil {
				c.log.Error("outbox ack failed", "seq", after, "err", err)
			}
		}
		if failure != nil {
			return failure
		}
		if acked < len(batch)-1 { // lost or stopping
			return nil
		}
	}
}

// trimLoop enforces Options.MaxOutbox every TrimInterval, connected or not.
func (c *Client) trimLoop(ctx context.Context) {
	tr, ok := c.opts.Outbox.(Trimmer)
	if !ok || c.opts.MaxOutbox < 0 {
		return
	}
	t := time.NewTicker(c.opts.TrimInterval)
	defer t.Stop()
	for {
		c.trim(ctx, tr)
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

func (c *Client) trim(ctx context.Context, tr Trimmer) {
	n, err := tr.TrimOutbox(ctx, c.opts.MaxOutbox)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Error("outbox trim failed", "err", err)
		}
		return
	}
	if n == 0 {
		return
	}
	c.dropped.Add(int64(n))
	c.log.Error("outbox full: oldest events dropped", "dropped", n, "max", c.opts.MaxOutbox)
	if c.opts.OnDrop != nil {
		c.opts.OnDrop(ctx, n)
	}
}

// Dropped is how many events the outbox bound dropped since start.
func (c *Client) Dropped() int64 { return c.dropped.Load() }
