package broker_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/conf"

	"github.com/fitmirror/fitmirror/cloud/fleet/broker"
)

// TestNATSUsers parses what NATSUsers writes with nats-server's own parser and checks each
// account's subjects against the mosquitto acl's rules.
func TestNATSUsers(t *testing.T) {
	out, err := broker.NATSUsers("", []broker.NATSUser{
		{Name: "store12-mirror3", Password: "$2a$11$abcdefghijklmnopqrstuuJ0m2S5q9WkK9bV0m1Yk7j3Qx8o6Y0a"},
		{Name: broker.HubUser, Password: "hub-pw"},
		{Name: broker.OpsUser, Password: "ops-pw"},
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := conf.Parse(out)
	if err != nil {
		t.Fatalf("nats-server cannot parse it: %v\n%s", err, out)
	}
	users := m["authorization"].(map[string]any)["users"].([]any)
	type perms struct{ pub, sub []string }
	got := map[string]perms{}
	for _, u := range users {
		u := u.(map[string]any)
		if ct := u["allowed_connection_types"].([]any); len(ct) != 1 || ct[0] != "MQTT" {
			t.Errorf("%s: connection types %v, want MQTT only", u["user"], ct)
		}
		p := u["permissions"].(map[string]any)
		list := func(k string) []string {
			var s []string
			for _, v := range p[k].(map[string]any)["allow"].([]any) {
				s = append(s, v.(string))
			}
			return s
		}
		got[u["user"].(string)] = perms{list("publish"), list("subscribe")}
	}
	want := map[string]perms{
		"store12-mirror3": {
			pub: []string{"mirror.store12-mirror3", "mirror.store12-mirror3.>"},
			sub: []string{"mirror.store12-mirror3", "mirror.store12-mirror3.>"}},
		broker.HubUser: {pub: []string{"mirror.*.binding", "mirror.*.cmd.*", "mirror.*.config.desired"},
			sub: []string{"mirror.*.status", "mirror.*.telemetry", "mirror.*.events", "mirror.*.cmd.*.result", "mirror.*.config.reported", "mirror.*.config.desired"}},
		broker.OpsUser: {
			pub: []string{"mirror.*.cmd.*", "mirror.*.config.desired", "homeassistant", "homeassistant.>"},
			sub: []string{"mirror", "mirror.>", "homeassistant", "homeassistant.>"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("permissions:\n got %v\nwant %v", got, want)
	}
	if !strings.Contains(out, `"$2a$11$abcdefghijklmnopqrstuuJ0m2S5q9WkK9bV0m1Yk7j3Qx8o6Y0a"`) {
		t.Errorf("bcrypt hash not kept as is:\n%s", out)
	}
}

func TestNATSUsersRefuses(t *testing.T) {
	for _, tt := range []struct {
		prefix string
		users  []broker.NATSUser
		want   string
	}{
		{"", []broker.NATSUser{{Name: "Mirror_1", Password: "x"}}, "neither a device ID"},
		{"", []broker.NATSUser{{Name: "_root", Password: "x"}}, "neither a device ID"},
		{"", []broker.NATSUser{{Name: "m1", Password: "x"}, {Name: "m1", Password: "y"}}, "twice"},
		{"", []broker.NATSUser{{Name: "m1"}}, "no password"},
		{"", []broker.NATSUser{{Name: "m1", Password: `a"b`}}, "quotes"},
		{"a.b", nil, "one topic level"},
	} {
		if _, err := broker.NATSUsers(tt.prefix, tt.users); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NATSUsers(%q, %v) = %v, want an error with %q", tt.prefix, tt.users, err, tt.want)
		}
	}
}
