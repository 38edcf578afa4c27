package fleet

import (
	"encoding/json"
	"time"

	"github.com/fitmirror/fitmirror/internal/wire"
)

// DefaultHAPrefix is Home Assistant's default MQTT discovery prefix.
const DefaultHAPrefix = "homeassistant"

// haEntity is one Home Assistant entity fed by a mirror's status or telemetry.
type haEntity struct {
	component, object, name string
	telemetry               bool // state from telemetry (else from status)
	template                string
	unit, deviceClass       string
	stateClass              string
}

var haEntities = []haEntity{
	{component: "binary_sensor", object: "online", name: "Online", deviceClass: "connectivity",
		template: "{{ 'ON' if value_json.state in ['online', 'degraded'] else 'OFF' }}"},
	{component: "sensor", object: "state", name: "State", template: "{{ value_json.state }}"},
	{component: "sensor", object: "reason", name: "Reason", template: "{{ value_json.reason | default('') }}"},
	{component: "sensor", object: "fps", name: "Frame rate", telemetry: true, template: "{{ value_json.fps }}", unit: "fps", stateClass: "measurement"},
	{component: "sensor", object: "detect_ms", name: "Detector time", telemetry: true, template: "{{ value_json.detect_ms_p50 }}", unit: "ms", stateClass: "measurement"},
	{component: "sensor", object: "cpu", name: "CPU", telemetry: true, template: "{{ value_json.cpu_pct }}", unit: "%", stateClass: "measurement"},
	{component: "sensor", object: "memory", name: "Memory", telemetry: true, template: "{{ value_json.rss_mb }}", unit: "MB", deviceClass: "data_size", stateClass: "measurement"},
	{component: "sensor", object: "temperature", name: "SoC temperature", telemetry: true, template: "{{ value_json.temp_c | default(None) }}", unit: "°C", deviceClass: "temperature", stateClass: "measurement"},
	{component: "sensor", object: "disk_free", name: "Free disk", telemetry: true, template: "{{ value_json.disk_free_mb }}", unit: "MB", deviceClass: "data_size", stateClass: "measurement"},
	{component: "sensor", object: "camera", name: "Camera", telemetry: true, template: "{{ value_json.camera }}"},
	{component: "sensor", object: "display", name: "Display", telemetry: true, template: "{{ value_json.display }}"},
	{component: "sensor", object: "outbox", name: "Events waiting", telemetry: true, template: "{{ value_json.outbox_depth }}", stateClass: "measurement"},
	{component: "sensor", object: "sessions", name: "Sessions", telemetry: true, template: "{{ value_json.counters.sessions }}", stateClass: "total_increasing"},
	{component: "sensor", object: "photos", name: "Photos", telemetry: true, template: "{{ value_json.counters.photos }}", stateClass: "total_increasing"},
	{component: "sensor", object: "bound", name: "Photos sent", telemetry: true, template: "{{ value_json.counters.bound }}", stateClass: "total_increasing"},
}

// HADiscovery returns Home Assistant MQTT discovery messages for one mirror: topic → payload,
// to be published retained (an empty payload removes an entity). The entities read the
// mirror's status and telemetry topics; telemetry entities become unavailable after three
// missed intervals. Nothing is published by the mirror itself (its ACL covers only its own
// subtree): mirrorctl ha-discovery publishes these with the operator's account.
func HADiscovery(haPrefix string, t wire.Topics, version string, telemetryInterval time.Duration) map[string][]byte {
	if haPrefix == "" {
		haPrefix = DefaultHAPrefix
	}
	node := "fitmirror_" + t.Device
	device := map[string]any{
		"identifiers":  []string{node},
		"name":         "Mirror " + t.Device,
		"manufacturer": "fitmirror",
		"model":        "smart fitting mirror",
	}
	if version != "" {
		device["sw_version"] = version
	}
	out := make(map[string][]byte, len(haEntities))
	for _, e := range haEntities {
		cfg := map[string]any{
			"name":           e.name,
			"unique_id":      node + "_" + e.object,
			"object_id":      node + "_" + e.object,
			"state_topic":    t.Status(),
			"value_template": e.template,
			"device":         device,
		}
		if e.telemetry {
			cfg["state_topic"] = t.Telemetry()
			cfg["expire_after"] = int((3 * telemetryInterval).Seconds())
			// Unavailable while the mirror is offline.
			cfg["availability_topic"] = t.Status()
			cfg["availability_template"] = "{{ 'online' if value_json.state in ['online', 'degraded'] else 'offline' }}"
		}
		if e.unit != "" {
			cfg["unit_of_measurement"] = e.unit
		}
		if e.deviceClass != "" {
			cfg["device_class"] = e.deviceClass
		}
		if e.stateClass != "" {
			cfg["state_class"] = e.stateClass
		}
		b, _ := json.Marshal(cfg)
		out[haPrefix+"/"+e.component+"/"+node+"/"+e.object+"/config"] = b
	}
	return out
}
