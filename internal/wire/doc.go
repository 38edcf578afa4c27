// Package wire is the one definition of what travels between the mirror, the hub and
// mirrorctl (docs/contracts.md): the MQTT topics and their payloads (status, telemetry,
// events, commands and their results, configuration, bindings), the error codes, the bodies of
// the hub's HTTP API for mirrors, the timestamp format and the ID rules.
//
// It is a leaf: it imports only the standard library, so anything that speaks the contract
// (mirrorctl, the hub, hubclient, the fleet client, the session store, the display) can use it
// without linking the rest of the mirror.
package wire
