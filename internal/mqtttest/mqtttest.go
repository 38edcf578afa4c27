// Package mqtttest holds the MQTT client helpers the broker tests share: log in as a user,
// subscribe into a channel, and wait for the next message.
package mqtttest

import (
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Msg is one message a subscription got.
type Msg struct{ Topic, Payload string }

// Connect logs in to the broker at addr (host:port) as user and returns the client and a
// channel for what its subscriptions get; the client disconnects when the test ends.
func Connect(t testing.TB, addr, user, password string) (paho.Client, chan Msg, error) {
	t.Helper()
	got := make(chan Msg, 16)
	o := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(user).SetUsername(user).SetPassword(password).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second)
	c := paho.NewClient(o)
	tok := c.Connect()
	tok.Wait()
	if err := tok.Error(); err != nil {
		return nil, nil, err
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, got, nil
}

// Subscribe subscribes c to filter at QoS 1, delivering into got.
func Subscribe(t testing.TB, c paho.Client, filter string, got chan Msg) {
	t.Helper()
	tok := c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) { got <- Msg{m.Topic(), string(m.Payload())} })
	tok.Wait()
	if tok.Error() != nil {
		t.Fatal(tok.Error())
	}
}

// Recv returns the next message, failing the test after 10 s without one.
func Recv(t testing.TB, ch chan Msg) Msg {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10 s")
		return Msg{}
	}
}
