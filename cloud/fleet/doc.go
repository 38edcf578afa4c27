// Package fleet is the mirror's side of fleet management over MQTT (docs/contracts.md §1).
//
// A [Client] keeps one persistent MQTT 3.1.1 session to the fleet broker, with the device ID
// as client ID and username, and:
//
//   - publishes a retained status ("online", "degraded" with a reason, "offline" before a clean
//     disconnect) with a Last Will that flips it to offline when the mirror vanishes;
//   - publishes telemetry on an interval from a function the agent supplies;
//   - drains the durable outbox of the session store to mirror/{id}/events in order, at QoS 1,
//     acknowledging (deleting) an event only once the broker's PUBACK arrived, so a broker
//     outage of any length or a crash of the agent loses nothing;
//   - runs commands (mirror/{id}/cmd/{name}) with request IDs, expiry and de-duplication;
//   - applies desired configuration through a function the agent supplies and reports the
//     effective configuration or the error on config/reported;
//   - hands bindings from the hub to a callback once per binding_id, acknowledges them to
//     the hub and asks it for missed ones after each (re)connection ([BindingHub]).
//
// The wire types (status, telemetry, events, commands, configuration, bindings) and the topic
// names live in internal/wire, shared with mirrorctl, the hub and the session store.
//
// Reconnects are the client's own: every attempt after a loss waits a jittered, doubling
// delay capped near a minute, so a fleet of mirrors does not hammer a broker that just came
// back. Each connection is a fresh paho client with CleanSession=false: the broker keeps the
// subscriptions and queued commands, while undelivered events are resent from the outbox,
// the only durable copy.
package fleet
