package hub_test

import (
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// A device's MQTT session, for the tests of the hub with a broker (the same helpers as
// embedbroker's tests).

type msg struct{ topic, payload string }

// connect logs in as user and returns the client and a channel of what its subscriptions get.
func connect(t *testing.T, addr, user, password string) (paho.Client, chan msg, error) {
	t.Helper()
	got := make(chan msg, 16)
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

func subscribe(t *testing.T, c paho.Client, filter string, got chan msg) {
	t.Helper()
	tok := c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) { got <- msg{m.Topic(), string(m.Payload())} })
	tok.Wait()
	if tok.Error() != nil {
		t.Fatal(tok.Error())
	}
}

func recv(t *testing.T, ch chan msg) msg {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10 s")
		return msg{}
	}
}

// The operator account reads and writes every mirror's topics when a password is set, and
// does not exist otherwise.
