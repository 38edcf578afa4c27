package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
)

// Alert formats: the body of the webhook POST.
const (
	FormatJSON     = "json"     // {"event":"alert"|"recovery","mirror","state","reason","store","since","at","text"}
	FormatWeCom    = "wecom"    // a WeChat Work group robot: {"msgtype":"text","text":{"content":…}}
	FormatDingTalk = "dingtalk" // a DingTalk group robot: the same shape
)

// AlertOptions configure the alerts (alerts.*).
type AlertOptions struct {
	// WebhookURL receives the alerts and recoveries (a secret: robots' URLs carry their key).
	WebhookURL string
	Format     string        // FormatJSON (default), FormatWeCom or FormatDingTalk
	After      time.Duration // how long a mirror is not online before the alert; 0 = 5 min
	// Every is how often the fleet is checked; 0 = 5 s.
	Every time.Duration
	// Attempts is how often a notice is tried (0 = 6), waiting Backoff (0 = 2 s), doubling,
	// between tries.
	Attempts int
	Backoff  time.Duration
	Client   *http.Client // nil = a client with a 10 s timeout
}

// CheckAlerts checks the alert options, naming the key at fault.
func CheckAlerts(o AlertOptions) error {
	if o.WebhookURL != "" {
		u, err := url.Parse(o.WebhookURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("alerts.webhook_url: not an http(s) URL with a host")
		}
	}
	switch o.Format {
	case "", FormatJSON, FormatWeCom, FormatDingTalk:
	default:
		return fmt.Errorf("alerts.format: %q is not json, wecom or dingtalk", o.Format)
	}
	if o.After < 0 {
		return fmt.Errorf("alerts.after: %v is negative", o.After)
	}
	return nil
}

// Alerter watches the fleet and sends one alert when a mirror has not been online (offline,
// silent, degraded, a lost camera) for After, and one recovery when it is online again.
// Replicas sharing a database each watch the fleet, but only the one whose FlipAlert
// succeeds sends a notice.
type Alerter struct {
	opts   AlertOptions
	st     hubstore.ConsoleStore
	fleet  func(context.Context) ([]Mirror, error)
	log    *slog.Logger
	now    func() time.Time
	wg     sync.WaitGroup
	badAt  map[string]time.Time // mirror → since when this replica has seen it not online
	raised map[string]bool      // mirror → this replica flipped (or tried to flip) its alert
	known  map[string]bool      // mirror → this replica has seen it
}

// NewAlerter checks the options; fleet lists the mirrors as the console shows them.
func NewAlerter(o AlertOptions, st hubstore.ConsoleStore, fleet func(context.Context) ([]Mirror, error), log *slog.Logger, now func() time.Time) (*Alerter, error) {
	if err := CheckAlerts(o); err != nil {
		return nil, err
	}
	if o.WebhookURL == "" {
		return nil, fmt.Errorf("alerts.webhook_url: required for alerts")
	}
	if o.Format == "" {
		o.Format = FormatJSON
	}
	if o.After == 0 {
		o.After = 5 * time.Minute
	}
	if o.Every <= 0 {
		o.Every = 5 * time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 6
	}
	if o.Backoff <= 0 {
		o.Backoff = 2 * time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if log == nil {
		log = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	return &Alerter{opts: o, st: st, fleet: fleet, log: log, now: now, badAt: map[string]time.Time{}, raised: map[string]bool{}, known: map[string]bool{}}, nil
}

// Run checks the fleet every Every until ctx ends, then waits for the notices being sent.
func (a *Alerter) Run(ctx context.Context) {
	defer a.wg.Wait()
	t := time.NewTicker(a.opts.Every)
	defer t.Stop()
	for {
		a.Check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Check looks at the fleet once: it raises the alerts of mirrors not online for After and
// clears those of mirrors online again (sending in the background).
func (a *Alerter) Check(ctx context.Context) {
	ms, err := a.fleet(ctx)
	if err != nil {
		a.log.Warn("console: alerts: fleet", "err", err)
		return
	}
	now := a.now()
	for _, m := range ms {
		key := "mirror/" + m.ID
		first := !a.known[m.ID]
		a.known[m.ID] = true
		if m.State == StateOnline && !m.CameraLost() {
			delete(a.badAt, m.ID)
			// Also the first time this replica sees the mirror: its alert may have fired
			// before this hub started, and the mirror recovered meanwhile.
			if a.raised[m.ID] || first {
				delete(a.raised, m.ID)
				a.flip(ctx, key, false, m, now)
			}
			continue
		}
		since, ok := a.badAt[m.ID]
		if !ok {
			a.badAt[m.ID] = now
			since = now
		}
		if !a.raised[m.ID] && now.Sub(since) >= a.opts.After {
			a.raised[m.ID] = true
			a.flip(ctx, key, true, m, since)
		}
	}
}

func (a *Alerter) flip(ctx context.Context, key string, firing bool, m Mirror, since time.Time) {
	won, err := a.st.FlipAlert(ctx, key, firing, a.now())
	if err != nil {
		a.log.Warn("console: alerts: flip", "mirror", m.ID, "err", err)
		if firing {
			delete(a.raised, m.ID) // try again at the next check
		}
		return
	}
	if !won {
		return // another replica sends it (or it was sent already)
	}
	body := a.body(firing, m, since)
	a.wg.Go(func() { a.send(ctx, m.ID, firing, body) })
}

// body is the notice in the configured format.
func (a *Alerter) body(firing bool, m Mirror, since time.Time) []byte {
	event, what := "recovery", "is online again"
	reason := truncate(m.Reason, 200)
	if firing {
		event = "alert"
		what = "is " + m.State
		if m.CameraLost() {
			what = "has lost its camera"
		}
		what += " since " + since.UTC().Format("2006-01-02 15:04:05 UTC")
		if reason != "" {
			what += " (" + reason + ")"
		}
	}
	text := "fitmirror: mirror " + m.ID + " " + what
	if m.Store != "" {
		text += ", store " + m.Store
	}
	var v any
	switch a.opts.Format {
	case FormatWeCom, FormatDingTalk:
		v = map[string]any{"msgtype": "text", "text": map[string]string{"content": text}}
	default:
		v = map[string]any{"event": event, "mirror": m.ID, "state": m.State, "reason": reason, "store": m.Store,
			"camera_lost": m.CameraLost(), "since": since.UTC(), "at": a.now().UTC(), "text": text}
	}
	b, _ := json.Marshal(v)
	return b
}

// send POSTs the notice, retrying with a doubling backoff on errors, non-2xx answers and
// robots' non-zero errcode, until ctx ends (a POST under way is finished).
func (a *Alerter) send(ctx context.Context, id string, firing bool, body []byte) {
	wait := a.opts.Backoff
	var last error
	for i := range a.opts.Attempts {
		if i > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				a.log.Error("console: alert not delivered: the hub is stopping", "mirror", id, "firing", firing, "attempts", i, "err", last)
				return
			}
			wait *= 2
		}
		if last = a.post(context.WithoutCancel(ctx), body); last == nil {
			a.log.Info("console: alert sent", "mirror", id, "firing", firing, "attempts", i+1)
			return
		}
	}
	a.log.Error("console: alert not delivered", "mirror", id, "firing", firing, "attempts", a.opts.Attempts, "err", last)
}

func (a *Alerter) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.opts.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.opts.Client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", redactErr(err))
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook: %s", resp.Status)
	}
	if a.opts.Format != FormatJSON {
		var r struct {
			ErrCode int    `json:"errcode"`
			ErrMsg  string `json:"errmsg"`
		}
		if json.Unmarshal(b, &r) == nil && r.ErrCode != 0 {
			return fmt.Errorf("webhook: errcode %d: %s", r.ErrCode, truncate(r.ErrMsg, 200))
		}
	}
	return nil
}

// redactErr drops the URL (whose query carries the robot's key) from a client error.
func redactErr(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
