package config

import (
	"net/url"
	"strings"
)

// Redacted is what a secret shows as once redacted.
const Redacted = "(set)"

// secretNames are the keys whose values are secrets wherever they sit: passwords, tokens,
// the WeChat app secret and message keys, the NATS auth callout's seeds, the alert webhook
// (a group robot's URL carries its key) and a DingTalk robot's signing secret.
var secretNames = map[string]bool{"password": true, "ops_password": true, "secret": true, "token": true,
	"aes_key": true, "previous_aes_key": true, "issuer_seed": true, "xkey_seed": true, "webhook_url": true,
	"dingtalk_secret": true}

// IsSecret reports whether a (dotted) key holds a secret.
func IsSecret(key string) bool {
	return secretNames[key[strings.LastIndexByte(key, '.')+1:]]
}

// Redact hides the secrets of an [Effective] configuration in place, for printing or
// publishing it: a set secret becomes [Redacted] (an empty one stays empty, so an operator
// sees what is missing), and the password of a URL (postgres://user:pw@host/db) becomes xxxxx.
func Redact(m map[string]any) map[string]any {
	for k, v := range m {
		switch v := v.(type) {
		case map[string]any:
			Redact(v)
		case string:
			switch {
			case v != "" && secretNames[k]:
				m[k] = Redacted
			case strings.Contains(v, "@") && strings.Contains(v, "://"):
				m[k] = RedactURL(v)
			}
		}
	}
	return m
}

// RedactURL hides the password of a URL, for configuration output and error messages.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable)"
	}
	return u.Redacted()
}
