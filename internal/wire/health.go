package wire

// The parts of a mirror whose health the agent tracks (docs/contracts.md §1). Each part is
// healthy or names what is wrong with it: a state word and a reason.
const (
	PartCamera   = "camera"   // frames arrive: ok, starting, lost, frozen
	PartDisplay  = "display"  // a kiosk page is attached or the framebuffer takes frames: ok, starting, lost
	PartStorage  = "storage"  // events are recorded: ok, failing
	PartBroker   = "broker"   // the fleet's MQTT broker is connected: ok, starting, down (only with mqtt.url)
	PartHub      = "hub"      // the WeChat hub answers: ok, failing (only with the hub provider)
	PartDetector = "detector" // the presence model is loaded: ok
	PartClock    = "clock"    // the clock is set: ok, unset
	PartPipeline = "pipeline" // the camera loop runs: ok, stalled
	PartEngine   = "engine"   // the session engine answers: ok, stalled
	PartPower    = "power"    // the Raspberry Pi's supply and SoC: ok, undervoltage, throttled (only where the firmware reports them)
)

// Health states. A part is healthy in HealthOK and HealthStarting; any other word is a problem.
const (
	HealthOK        = "ok"
	HealthStarting  = "starting"
	HealthDegraded  = "degraded"  // overall: a part that does not stop the mirror is broken
	HealthUnhealthy = "unhealthy" // overall: the mirror cannot serve a shopper
)

// Health is the body of the agent's GET /healthz: the overall status, each part's state, and
// the parts that are not healthy with their reasons.
type Health struct {
	Status   string            `json:"status"` // ok | degraded | unhealthy
	Parts    map[string]string `json:"parts"`  // part → state
	Problems []Problem         `json:"problems,omitempty"`
	UptimeS  int64             `json:"uptime_s"`
}

// Problem is one part that is not healthy: its state, why, and since when. Telemetry and
// /healthz carry them.
type Problem struct {
	Part   string `json:"part"`
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	Since  Time   `json:"since"`
}
