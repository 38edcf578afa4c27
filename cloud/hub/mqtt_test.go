package hub_test

import "github.com/fitmirror/fitmirror/internal/mqtttest"

// A device's MQTT session, for the tests of the hub with a broker.
type msg = mqtttest.Msg

var (
	connect   = mqtttest.Connect
	subscribe = mqtttest.Subscribe
	recv      = mqtttest.Recv
)
