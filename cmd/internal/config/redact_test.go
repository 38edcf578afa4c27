package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRedact(t *testing.T) {
	m := map[string]any{
		"mqtt":     map[string]any{"url": "tcp://127.0.0.1:1883", "password": "pw", "username": "m1"},
		"cloud":    map[string]any{"token": "", "hub_url": "https://hub"},
		"database": map[string]any{"url": "postgres://hub:s3cret@db:5432/hub"},
		"wechat":   map[string]any{"secret": "x", "aes_key": "k", "previous_aes_key": ""},
	}
	want := map[string]any{
		"mqtt":     map[string]any{"url": "tcp://127.0.0.1:1883", "password": Redacted, "username": "m1"},
		"cloud":    map[string]any{"token": "", "hub_url": "https://hub"},
		"database": map[string]any{"url": "postgres://hub:xxxxx@db:5432/hub"},
		"wechat":   map[string]any{"secret": Redacted, "aes_key": Redacted, "previous_aes_key": ""},
	}
	if diff := cmp.Diff(want, Redact(m)); diff != "" {
		t.Errorf("Redact (-want +got):\n%s", diff)
	}
	for key, want := range map[string]bool{"mqtt.password": true, "cloud.token": true, "wechat.aes_key": true, "mqtt.url": false, "token_ttl": false} {
		if IsSecret(key) != want {
			t.Errorf("IsSecret(%q) = %v", key, !want)
		}
	}
}
