package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/fitmirror/fitmirror/cmd/internal/config"
)

// docs/hub.md carries the key table `mirror-cloud config --keys` prints.
func TestDocsListEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../../docs/hub.md")
	if err != nil {
		t.Fatal(err)
	}
	if keys := strings.TrimSpace(config.Markdown(docDefaults())); !bytes.Contains(doc, []byte(keys)) {
		t.Errorf("docs/hub.md is out of date; paste the output of `mirror-cloud config --keys`:\n%s", keys)
	}
}

func TestDefaultsAreASimInstall(t *testing.T) {
	c := defaultConfig()
	if err := config.Check(&c); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if c.WeChat.Mode != "sim" || c.MQTT.URL != "" || c.MQTT.Embedded.Listen == "" {
		t.Errorf("defaults = %+v, want sim mode with the embedded broker", c)
	}
}

func TestConfigHidesSecrets(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(t.Context(), []string{"config", "--set", "wechat.secret=APPSECRET", "--set", "mqtt.password=MQTTPW",
		"--set", "wechat.token=CBTOKEN", "--set", "wechat.aes_key=jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"}, &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"APPSECRET", "MQTTPW", "CBTOKEN", "jWmYm7qr"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("mirror-cloud config prints %s:\n%s", secret, out.String())
		}
	}
	if !strings.Contains(out.String(), "secret: (set)") {
		t.Errorf("config output does not say the secret is set:\n%s", out.String())
	}
}

// Listen addresses are checked when the configuration is loaded, naming the key (issue #24).
func TestConfigChecksListen(t *testing.T) {
	for _, tt := range []struct{ set, want string }{
		{"listen=127.0.0.1:99999", "listen: port 99999"},
		{"listen=8090", `listen: "8090" is a port without a host`},
		{"mqtt.embedded.listen=1883", "mqtt.embedded.listen"},
	} {
		c := defaultConfig()
		if err := config.Load(&c, "", []string{tt.set}); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Load(--set %s) = %v, want %s…", tt.set, err, tt.want)
		}
	}
}
