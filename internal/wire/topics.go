package wire

import "strings"

// DefaultTopicPrefix is the first level of every fleet topic unless configured.
const DefaultTopicPrefix = "mirror"

// Topics names the MQTT topics of one mirror.
type Topics struct {
	Prefix string // "mirror" unless configured
	Device string
}

func (t Topics) base() string { return t.Prefix + "/" + t.Device + "/" }

// Status is mirror/{id}/status.
func (t Topics) Status() string { return t.base() + "status" }

// Telemetry is mirror/{id}/telemetry.
func (t Topics) Telemetry() string { return t.base() + "telemetry" }

// Events is mirror/{id}/events.
func (t Topics) Events() string { return t.base() + "events" }

// Command is mirror/{id}/cmd/{name}.
func (t Topics) Command(name string) string { return t.base() + "cmd/" + name }

// Result is mirror/{id}/cmd/{name}/result.
func (t Topics) Result(name string) string { return t.base() + "cmd/" + name + "/result" }

// Desired is mirror/{id}/config/desired.
func (t Topics) Desired() string { return t.base() + "config/desired" }

// Reported is mirror/{id}/config/reported.
func (t Topics) Reported() string { return t.base() + "config/reported" }

// Binding is mirror/{id}/binding.
func (t Topics) Binding() string { return t.base() + "binding" }

// DeviceOf returns the device ID of a topic under prefix ("mirror/m1/status" → "m1").
func DeviceOf(prefix, topic string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, prefix+"/")
	if !ok {
		return "", false
	}
	id, _, ok := strings.Cut(rest, "/")
	return id, ok && id != ""
}
