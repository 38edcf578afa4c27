package main

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fitmirror/fitmirror/cloud/console"
	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/wechat"
	"github.com/fitmirror/fitmirror/cmd/internal/config"
	"github.com/fitmirror/fitmirror/internal/debpkg"
)

// Config is mirror-cloud's configuration (YAML, dotted keys for --set). With no file it runs
// a sim-mode hub: the built-in WeChat simulator, an embedded MQTT broker and SQLite in
// state_dir. `mirror-cloud config --keys` prints every key.
type Config struct {
	Listen         string         `yaml:"listen" help:"HTTP listener (host:port): agents' API, WeChat callback, photo page, /healthz, /metrics; in sim mode a listener without a host binds 127.0.0.1"`
	StateDir       string         `yaml:"state_dir" help:"database (hub.db) and photos when database.url is empty; default $STATE_DIRECTORY under systemd (/var/lib/mirror-cloud), ./state otherwise"`
	PublicURL      string         `yaml:"public_url" help:"base URL phones and WeChat reach the hub at (photo page links, OAuth redirect); required in wechat mode; default in sim mode http://127.0.0.1:<listen port>"`
	TrustedProxies []string       `yaml:"trusted_proxies" help:"addresses or CIDRs of the load balancer / reverse proxy in front of the hub: for their requests the rate limits count the client named in X-Forwarded-For, not the proxy"`
	RateLimits     RateLimits     `yaml:"rate_limits"`
	Log            LogConfig      `yaml:"log"`
	Database       DatabaseConfig `yaml:"database"`
	Photos         PhotosConfig   `yaml:"photos"`
	WeChat         WeChatConfig   `yaml:"wechat"`
	MQTT           MQTTConfig     `yaml:"mqtt"`
	Console        ConsoleConfig  `yaml:"console"`
	Alerts         AlertsConfig   `yaml:"alerts"`
	Updates        UpdatesConfig  `yaml:"updates"`
}

// UpdatesConfig is what the hub checks software releases against (docs/updates.md).
type UpdatesConfig struct {
	PublicKeys []string `yaml:"public_keys" help:"minisign public keys (the RW… line of minisign -G's .pub file) whose signatures mirror-cloud release add accepts; more than one while a key is rotated"`
}

// ConsoleConfig is the fleet console (docs/console.md).
type ConsoleConfig struct {
	Listen      string        `yaml:"listen" help:"fleet console listener (host:port), its own so the WeChat-facing listener never serves it; loopback by default (reach it over SSH or a VPN); empty = no console"`
	SessionTTL  time.Duration `yaml:"session_ttl" help:"how long an operator's login lasts" range:"5m,720h"`
	SilentAfter time.Duration `yaml:"silent_after" help:"a mirror that sent no telemetry this long is silent even if its status says online: 3 × the agents' telemetry_interval (30s)" range:"10s,24h"`
}

// AlertsConfig is where the console's alerts go (docs/console.md).
type AlertsConfig struct {
	WebhookURL string        `yaml:"webhook_url" help:"receives an alert when a mirror is offline, silent, degraded or without its camera for alerts.after, and a recovery; a WeChat Work or DingTalk robot URL carries its key, so this is a secret; empty = no alerts"`
	Format     string        `yaml:"format" help:"json = {event,mirror,state,reason,store,since,at,text}; wecom and dingtalk = the group robots' text message" enum:"json,wecom,dingtalk"`
	After      time.Duration `yaml:"after" help:"how long a mirror is not online before the alert" range:"10s,24h"`
	// DingTalkSecret signs a DingTalk robot's requests (its security setting 加签).
	DingTalkSecret string     `yaml:"dingtalk_secret" help:"the SEC… secret of a DingTalk robot whose security setting is signing (加签): each POST carries timestamp and sign; empty = keyword or IP security"`
	SMTP           SMTPConfig `yaml:"smtp"`
}

// SMTPConfig sends the alerts by e-mail too (docs/console.md).
type SMTPConfig struct {
	Addr     string   `yaml:"addr" help:"SMTP submission server (host:port, e.g. smtp.example.com:587); empty = no e-mail alerts"`
	From     string   `yaml:"from" help:"sender address of the alert e-mails"`
	To       []string `yaml:"to" help:"recipients of the alert e-mails"`
	Username string   `yaml:"username" help:"login at the SMTP server (AUTH PLAIN, only over TLS or to a server on loopback); empty = none"`
	Password string   `yaml:"password" help:"password of alerts.smtp.username"`
	TLS      string   `yaml:"tls" help:"starttls = upgrade the connection (ports 587, 25; refused if the server does not offer it); tls = TLS from the start (port 465); none = no encryption, for a relay on loopback or a trusted network" enum:"starttls,tls,none"`
}

// alertOptions are the alerts as the console takes them.
func (c *Config) alertOptions() console.AlertOptions {
	s := c.Alerts.SMTP
	return console.AlertOptions{WebhookURL: c.Alerts.WebhookURL, Format: c.Alerts.Format, After: c.Alerts.After, DingTalkSecret: c.Alerts.DingTalkSecret,
		SMTP: console.SMTPOptions{Addr: s.Addr, From: s.From, To: s.To, Username: s.Username, Password: s.Password, TLS: s.TLS}}
}

// RateLimits are requests per second per client address, with bursts of four times that (at
// least 10); 0 turns a limit off. Each replica counts its own share.
type RateLimits struct {
	Callback  float64 `yaml:"callback" help:"WeChat callback requests per second per client address; WeChat pushes from a few server addresses, so raise it (or 0 = off) when a large chain's scans at peak exceed it" range:"0,100000"`
	DeviceAPI float64 `yaml:"device_api" help:"device API requests (uploads, QR codes, acknowledgements) per second per client address; mirrors behind one store NAT share an address" range:"0,100000"`
	Page      float64 `yaml:"page" help:"photo page and thumbnail requests per second per client address; shoppers behind one carrier NAT share an address" range:"0,100000"`
}

// rate is a configured limit as hub.Options takes it: 0 (off) is negative there.
func rate(v float64) float64 {
	if v == 0 {
		return -1
	}
	return v
}

type LogConfig struct {
	Level  string `yaml:"level" help:"log level" enum:"debug,info,warn,error"`
	Format string `yaml:"format" help:"auto = JSON under systemd, text otherwise" enum:"auto,text,json"`
}

type DatabaseConfig struct {
	URL string `yaml:"url" help:"PostgreSQL (postgres://user:password@host:5432/db?sslmode=…) that every replica shares; empty = SQLite in state_dir (one instance)"`
}

type PhotosConfig struct {
	URL            string        `yaml:"url" help:"S3-compatible bucket for the photos (s3://key:secret@host/bucket[/prefix][?tls=false]); empty = in the database (PostgreSQL) or in state_dir (SQLite)"`
	UnscannedGrace time.Duration `yaml:"unscanned_grace" help:"a photo nobody scanned is deleted this long after its last QR code expired" range:"1m,24h"`
	Retention      time.Duration `yaml:"retention" help:"a scanned photo (and its page) is deleted this long after upload" range:"1h,2160h"`
	OnUnsubscribe  string        `yaml:"on_unsubscribe" help:"what an unfollow does to the shopper's photos: delete = at once (they withdrew their consent, PIPL Art. 15); keep = until their retention" enum:"delete,keep"`
}

type WeChatConfig struct {
	Mode           string `yaml:"mode" help:"wechat = a real Official Account; sim = the built-in simulator (POST /sim/scan), no account needed" enum:"wechat,sim"`
	AppID          string `yaml:"appid" help:"the Official Account's appid (required in wechat mode)"`
	Secret         string `yaml:"secret" help:"its AppSecret (required in wechat mode; never give it to a mirror)"`
	Token          string `yaml:"token" help:"the callback Token of the server settings (required in wechat mode; sim: random per start)"`
	AESKey         string `yaml:"aes_key" help:"EncodingAESKey, 43 characters, for safe mode; empty = plain mode"`
	PreviousAESKey string `yaml:"previous_aes_key" help:"the EncodingAESKey before the last rotation, still accepted"`
	APIBase        string `yaml:"api_base" help:"Official Account API base URL"`
	OAuthBase      string `yaml:"oauth_base" help:"web OAuth base URL for the photo page"`
	Reply          string `yaml:"reply" help:"how the photo reaches the shopper: news = a link to the photo page; image = the photo itself (media/upload)" enum:"news,image"`
	MPVerify       string `yaml:"mp_verify" help:"the MP_verify_*.txt file the admin console asks you to serve to verify the OAuth domain (网页授权域名): its name or its content, comma-separated for several; served at /MP_verify_<content>.txt"`
}

type MQTTConfig struct {
	URL         string         `yaml:"url" help:"external broker (tcp://host:1883, ssl://…); empty = the embedded broker"`
	Failover    []string       `yaml:"failover" help:"more URLs of the same clustered external broker (its other nodes), tried in turn when mqtt.url is unreachable"`
	Username    string         `yaml:"username" help:"username at the external broker (the shipped mosquitto ACL's hub account is _hub)"`
	Password    string         `yaml:"password" help:"password at the external broker"`
	TopicPrefix string         `yaml:"topic_prefix" help:"topic prefix: bindings go to <prefix>/<device>/binding"`
	Embedded    EmbeddedConfig `yaml:"embedded"`
}

type EmbeddedConfig struct {
	Listen      string `yaml:"listen" help:"embedded broker listener (host:port; in sim mode without a host: 127.0.0.1); devices log in with their ID and MQTT password and may use only <prefix>/<their ID>/#"`
	OpsPassword string `yaml:"ops_password" help:"password of the operator account _ops (mirrorctl's default user), which may use every mirror's topics; empty = no operator account"`
}

func defaultConfig() Config {
	stateDir := "./state"
	if d := os.Getenv("STATE_DIRECTORY"); d != "" {
		stateDir = strings.Split(d, ":")[0]
	}
	return Config{
		Listen:     ":8090",
		RateLimits: RateLimits{Callback: 50, DeviceAPI: 20, Page: 10},
		StateDir:   stateDir,
		Log:        LogConfig{Level: "info", Format: "auto"},
		Photos:     PhotosConfig{UnscannedGrace: 10 * time.Minute, Retention: 7 * 24 * time.Hour, OnUnsubscribe: hub.UnsubscribeDelete},
		WeChat:     WeChatConfig{Mode: "sim", APIBase: wechat.DefaultBaseURL, OAuthBase: wechat.DefaultOAuthBase, Reply: "news"},
		MQTT:       MQTTConfig{Username: "_hub", TopicPrefix: "mirror", Embedded: EmbeddedConfig{Listen: ":1883"}},
		Console:    ConsoleConfig{Listen: "127.0.0.1:8091", SessionTTL: 12 * time.Hour, SilentAfter: 90 * time.Second},
		Alerts:     AlertsConfig{Format: "json", After: 5 * time.Minute, SMTP: SMTPConfig{TLS: console.SMTPStartTLS}},
	}
}

func docDefaults() Config {
	c := defaultConfig()
	c.StateDir = "./state"
	return c
}

// Validate checks what the tags cannot.
func (c *Config) Validate() error {
	if err := config.CheckListen("listen", c.Listen); err != nil {
		return err
	}
	if c.StateDir == "" {
		return fmt.Errorf("state_dir: must not be empty")
	}
	if _, err := c.trustedProxies(); err != nil {
		return err
	}
	if c.Photos.URL != "" {
		u, err := url.Parse(c.Photos.URL)
		if err != nil || u.Scheme != "s3" || u.Host == "" || strings.Trim(u.Path, "/") == "" {
			return fmt.Errorf("photos.url: want s3://key:secret@host/bucket[/prefix], got %q", config.RedactURL(c.Photos.URL))
		}
	}
	if c.Database.URL != "" {
		u, err := url.Parse(c.Database.URL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			return fmt.Errorf("database.url: want postgres://user:password@host:5432/database, got %q", config.RedactURL(c.Database.URL))
		}
	}
	if c.PublicURL != "" {
		if err := httpURL(c.PublicURL); err != nil {
			return fmt.Errorf("public_url: %w", err)
		}
	}
	w := c.WeChat
	if w.Mode == "wechat" {
		switch {
		case w.AppID == "":
			return fmt.Errorf("wechat.appid: required in wechat mode")
		case w.Secret == "":
			return fmt.Errorf("wechat.secret: required in wechat mode")
		case w.Token == "":
			return fmt.Errorf("wechat.token: required in wechat mode")
		case c.PublicURL == "":
			return fmt.Errorf("public_url: required in wechat mode (the URL WeChat and phones reach)")
		}
	}
	for _, k := range []struct{ key, v string }{{"wechat.aes_key", w.AESKey}, {"wechat.previous_aes_key", w.PreviousAESKey}} {
		if k.v != "" {
			if _, err := wechat.DecodeAESKey(k.v); err != nil {
				return fmt.Errorf("%s: %v", k.key, strings.TrimPrefix(err.Error(), "wechat: "))
			}
		}
	}
	if _, err := hub.ParseMPVerify(w.MPVerify); err != nil {
		return fmt.Errorf("wechat.mp_verify: %w", err)
	}
	if err := httpURL(w.APIBase); err != nil {
		return fmt.Errorf("wechat.api_base: %w", err)
	}
	if err := httpURL(w.OAuthBase); err != nil {
		return fmt.Errorf("wechat.oauth_base: %w", err)
	}
	if c.MQTT.URL != "" {
		if err := brokerURL(c.MQTT.URL); err != nil {
			return fmt.Errorf("mqtt.url: %w", err)
		}
		for _, f := range c.MQTT.Failover {
			if err := brokerURL(f); err != nil {
				return fmt.Errorf("mqtt.failover: %w", err)
			}
		}
	} else if len(c.MQTT.Failover) > 0 {
		return fmt.Errorf("mqtt.failover: needs mqtt.url (the embedded broker has no other nodes)")
	} else if c.MQTT.Embedded.Listen == "" {
		return fmt.Errorf("mqtt.embedded.listen: must not be empty without mqtt.url")
	} else if err := config.CheckListen("mqtt.embedded.listen", c.MQTT.Embedded.Listen); err != nil {
		return err
	}
	if _, err := debpkg.ParseKeys(c.Updates.PublicKeys); err != nil {
		return fmt.Errorf("updates.public_keys: %w", err)
	}
	if c.MQTT.TopicPrefix == "" || strings.ContainsAny(c.MQTT.TopicPrefix, "+#") {
		return fmt.Errorf("mqtt.topic_prefix: %q must be non-empty without + or #", c.MQTT.TopicPrefix)
	}
	if c.Console.Listen != "" {
		if err := config.CheckListen("console.listen", c.Console.Listen); err != nil {
			return err
		}
		if _, port, _ := net.SplitHostPort(c.Console.Listen); port != "0" && (c.Console.Listen == c.Listen || (c.MQTT.URL == "" && c.Console.Listen == c.MQTT.Embedded.Listen)) {
			return fmt.Errorf("console.listen: %s is taken by another listener; the console needs its own", c.Console.Listen)
		}
	} else if c.Alerts.WebhookURL != "" {
		return fmt.Errorf("alerts.webhook_url: alerts come from the console: set console.listen")
	} else if c.Alerts.SMTP.Addr != "" {
		return fmt.Errorf("alerts.smtp.addr: alerts come from the console: set console.listen")
	}
	return console.CheckAlerts(c.alertOptions())
}

func httpURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL with a host", s)
	}
	return nil
}

func (c *Config) dbPath() string   { return filepath.Join(c.StateDir, "hub.db") }
func (c *Config) photoDir() string { return filepath.Join(c.StateDir, "photos") }

// releaseDir keeps the release files of a SQLite hub.
func (c *Config) releaseDir() string { return filepath.Join(c.StateDir, "releases") }

// brokerURL checks an external broker URL.
func brokerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not a broker URL (tcp://host:1883)", s)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
	default:
		return fmt.Errorf("scheme %q is not tcp, ssl, ws or wss", u.Scheme)
	}
	return nil
}

// trustedProxies parses trusted_proxies: addresses (a /32 or /128) and CIDRs.
func (c *Config) trustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range c.TrustedProxies {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				return nil, fmt.Errorf("trusted_proxies: %q is not an address or CIDR (10.0.0.5, 10.0.0.0/24)", v)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
