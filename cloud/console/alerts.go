package console

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
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

// AlertOptions configure the alerts (alerts.*). Each notice goes to every channel set: the
// webhook and the e-mail.
type AlertOptions struct {
	// WebhookURL receives the alerts and recoveries (a secret: robots' URLs carry their key).
	WebhookURL string
	Format     string // FormatJSON (default), FormatWeCom or FormatDingTalk
	// DingTalkSecret, for a DingTalk robot whose security setting is signing (加签), is the
	// robot's SEC… secret: each POST carries timestamp and sign in its URL.
	DingTalkSecret string
	// SMTP, when its Addr is set, also sends each notice by e-mail.
	SMTP  SMTPOptions
	After time.Duration // how long a mirror is not online before the alert; 0 = 5 min
	// Every is how often the fleet is checked; 0 = 5 s.
	Every time.Duration
	// Attempts is how often a notice is tried (0 = until it is delivered or GiveUp old),
	// waiting Backoff (0 = 2 s), doubling up to MaxBackoff (0 = 5 min), between tries.
	Attempts   int
	Backoff    time.Duration
	MaxBackoff time.Duration
	// GiveUp is how old a notice not delivered grows before it is dropped; 0 = 24 h.
	GiveUp time.Duration
	// Lease is how long a replica holds a notice it works on past its next try (0 = 1 min):
	// when its replica dies, another takes the notice over once the lease ends. It must
	// outlast one try (the webhook's 10 s, SMTP's Timeout).
	Lease  time.Duration
	Client *http.Client // nil = a client with a 10 s timeout
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
	if o.DingTalkSecret != "" {
		switch {
		case o.Format != FormatDingTalk:
			return fmt.Errorf("alerts.dingtalk_secret: signs a DingTalk robot's requests; set alerts.format to dingtalk (or empty the secret)")
		case !strings.HasPrefix(o.DingTalkSecret, "SEC") || strings.ContainsAny(o.DingTalkSecret, " \t\r\n"):
			return fmt.Errorf("alerts.dingtalk_secret: want the robot's signing secret, the SEC… string of its security settings (加签)")
		}
	}
	if o.After < 0 {
		return fmt.Errorf("alerts.after: %v is negative", o.After)
	}
	return checkSMTP(o.SMTP)
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
	// channels are where each notice goes (the webhook, the e-mail), each retried alone.
	channels []channel
	// owner names this replica in the outbox's leases; working are the notices it sends now.
	owner   string
	mu      sync.Mutex
	working map[string]bool
}

// NewAlerter checks the options; fleet lists the mirrors as the console shows them.
func NewAlerter(o AlertOptions, st hubstore.ConsoleStore, fleet func(context.Context) ([]Mirror, error), log *slog.Logger, now func() time.Time) (*Alerter, error) {
	if err := CheckAlerts(o); err != nil {
		return nil, err
	}
	if o.WebhookURL == "" && o.SMTP.Addr == "" {
		return nil, fmt.Errorf("alerts.webhook_url or alerts.smtp.addr: one is required for alerts")
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
	if o.Backoff <= 0 {
		o.Backoff = 2 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	if o.GiveUp <= 0 {
		o.GiveUp = 24 * time.Hour
	}
	if o.Lease <= 0 {
		o.Lease = time.Minute
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.SMTP.Timeout <= 0 {
		o.SMTP.Timeout = 30 * time.Second
	}
	if o.SMTP.Addr != "" && o.SMTP.TLS == "" {
		o.SMTP.TLS = SMTPStartTLS
	}
	if log == nil {
		log = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	a := &Alerter{opts: o, st: st, fleet: fleet, log: log, now: now, badAt: map[string]time.Time{}, raised: map[string]bool{}, known: map[string]bool{},
		owner: randomID(), working: map[string]bool{}}
	if o.WebhookURL != "" {
		a.channels = append(a.channels, &webhook{o: &a.opts, now: now})
	}
	if o.SMTP.Addr != "" {
		a.channels = append(a.channels, &email{o: &a.opts.SMTP})
	}
	return a, nil
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
// clears those of mirrors online again (sending in the background), and takes over the
// notices of the outbox whose replica's lease ended.
func (a *Alerter) Check(ctx context.Context) {
	ms, err := a.fleet(ctx)
	if err != nil {
		a.log.Warn("console: alerts: fleet", "err", err)
		return
	}
	a.resume(ctx)
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
	now := a.now()
	rows, err := a.outboxRows(a.notice(firing, m, since), now)
	if err == nil {
		var won bool
		if won, err = a.st.FlipAlert(ctx, key, firing, now, rows...); err == nil && !won {
			return // another replica sends it (or it was sent already)
		}
	}
	if err != nil {
		a.log.Warn("console: alerts: flip", "mirror", m.ID, "err", err)
		if firing {
			delete(a.raised, m.ID) // try again at the next check
		}
		return
	}
	for _, r := range rows {
		a.start(ctx, r)
	}
}

// notice is one alert or recovery, the same for every channel.
type notice struct {
	Firing bool
	Mirror Mirror
	Since  time.Time
	At     time.Time
	Reason string // the mirror's, at most 200 characters
	Text   string // one line: "fitmirror: mirror m1 is offline since … (reason), store S"
	ID     string // random: the e-mail's Message-ID, the same on every try
}

func (n notice) event() string {
	if n.Firing {
		return "alert"
	}
	return "recovery"
}

func (a *Alerter) notice(firing bool, m Mirror, since time.Time) notice {
	what := "is online again"
	reason := truncate(m.Reason, 200)
	if firing {
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
	return notice{Firing: firing, Mirror: m, Since: since.UTC(), At: a.now().UTC(), Reason: reason, Text: text, ID: randomID()}
}
