package embedbroker_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/fitmirror/fitmirror/cloud/fleet"
	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/hub/embedbroker"
)

// session logs in with an explicit client ID and a persistent session (as the agent does),
// routing everything it receives, subscribed or queued, to the returned channel.
func session(t *testing.T, addr, clientID, user, password string) (paho.Client, chan msg) {
	t.Helper()
	got := make(chan msg, 64)
	o := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(clientID).SetUsername(user).SetPassword(password).
		SetCleanSession(false).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { got <- msg{Topic: m.Topic(), Payload: string(m.Payload())} })
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s as %s: %v", clientID, user, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, got
}

// The attack of issue 14: m2, with its own password, claims m1's client ID to inherit m1's
// session (its queued command) or to kick the live m1 off. The broker gives m2 its own
// session instead: m1's queued command waits for m1, and a live m1 stays connected.
func TestBrokerClientIDTakeover(t *testing.T) {
	b, _, creds := startBroker(t)
	pw1, pw2 := creds["m1"].MQTTPassword, creds["m2"].MQTTPassword

	// m1 has a persistent session with a subscription, and is offline.
	m1, _ := session(t, b.Addr(), "m1", "m1", pw1)
	if tok := m1.Subscribe("mirror/m1/cmd/+", 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	m1.Disconnect(100)
	// A command for m1 is queued while it is away.
	if err := b.Publish(t.Context(), "mirror/m1/cmd/restart", []byte(`{"id":"c1"}`)); err != nil {
		t.Fatal(err)
	}

	// The thief: m2's password, m1's client ID, a persistent session.
	thief, stolen := session(t, b.Addr(), "m1", "m2", pw2)
	if tok := thief.Subscribe("mirror/m2/marker", 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	b.Publish(t.Context(), "mirror/m2/marker", []byte("marker"))
	if m := recv(t, stolen); m.Topic != "mirror/m2/marker" {
		t.Fatalf("the thief received %+v (m1's queued message): session taken over", m)
	}

	// mirror-agent check's probe logs in as m1 (the same session): it takes nothing from it.
	if err := fleet.Probe(t.Context(), fleet.Options{Broker: "tcp://" + b.Addr(), DeviceID: "m1", Password: pw1}); err != nil {
		t.Fatalf("probe: %v", err)
	}

	// The real m1 comes back and gets its command.
	m1, got1 := session(t, b.Addr(), "m1", "m1", pw1)
	if m := recv(t, got1); m.Topic != "mirror/m1/cmd/restart" || m.Payload != `{"id":"c1"}` {
		t.Fatalf("m1 got %+v, want its queued command", m)
	}
	// While m1 is live, the thief connects again with m1's client ID: m1 is not kicked off,
	// and still gets what is sent to it.
	thief.Disconnect(0)
	session(t, b.Addr(), "m1", "m2", pw2)
	b.Publish(t.Context(), "mirror/m1/cmd/status", []byte(`{"id":"c2"}`))
	if m := recv(t, got1); m.Payload != `{"id":"c2"}` {
		t.Fatalf("m1 got %+v, want c2", m)
	}
	if !m1.IsConnectionOpen() {
		t.Error("the live m1 was disconnected by a client claiming its ID")
	}
}

// A device cannot push a huge message into the broker (it is refused before it is read: the
// connection is closed), nor grow the retained store beyond MaxRetainedPerDevice topics.
func TestBrokerLimits(t *testing.T) {
	b, _, creds := startBroker(t)
	pw1, pw2 := creds["m1"].MQTTPassword, creds["m2"].MQTTPassword
	ops, got := session(t, b.Addr(), "ops-watch", embedbroker.OpsUser, testOpsPassword)
	if tok := ops.Subscribe("mirror/m2/#", 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}

	// A raw PUBLISH announcing 50 MB: the broker closes the connection after the header,
	// without waiting for (or buffering) the body.
	c := rawConnect(t, b.Addr(), "m2", pw2)
	topic := "mirror/m2/events"
	hdr := []byte{0x30} // PUBLISH, QoS 0
	hdr = append(hdr, varint(2+len(topic)+50<<20)...)
	hdr = binary.BigEndian.AppendUint16(hdr, uint16(len(topic)))
	hdr = append(hdr, topic...)
	c.Write(hdr)
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	sent := 0
	for ; sent < 50<<20; sent += len(chunk) {
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(chunk); err != nil {
			break
		}
	}
	if sent >= 50<<20 {
		t.Errorf("the broker read a 50 MB message (MaximumPacketSize not enforced)")
	}

	// Over MQTT: a message above the limit is refused, one at the limit goes through.
	big, _ := session(t, b.Addr(), "m2", "m2", pw2)
	big.Publish("mirror/m2/events", 1, false, strings.Repeat("a", embedbroker.MaxMessageBytes+8192)).WaitTimeout(5 * time.Second)
	ok, _ := session(t, b.Addr(), "m2", "m2", pw2)
	ok.Publish("mirror/m2/events", 1, false, strings.Repeat("b", embedbroker.MaxMessageBytes)).Wait()
	if m := recv(t, got); len(m.Payload) != embedbroker.MaxMessageBytes || m.Payload[0] != 'b' {
		t.Errorf("got %d bytes %.1q…, want the %d-byte message at the limit", len(m.Payload), m.Payload, embedbroker.MaxMessageBytes)
	}

	// Retained: m1 tries to retain 50 topics; a new subscriber finds at most the limit.
	m1, _ := session(t, b.Addr(), "m1", "m1", pw1)
	for i := 0; i < 50; i++ {
		m1.Publish("mirror/m1/junk/"+strings.Repeat("x", i), 1, true, "retained").Wait()
	}
	// countRetained subscribes a fresh watcher and counts the retained messages it gets: they
	// come right after the SUBACK. On a loaded machine they may trickle in, so the count waits
	// (up to 10 s) for the number a correct broker keeps, then a quiet second for any excess.
	countRetained := func(name string, want int) (n int, status string) {
		w, wgot := session(t, b.Addr(), "ops-"+name, embedbroker.OpsUser, testOpsPassword)
		defer w.Disconnect(0)
		if tok := w.Subscribe("mirror/m1/#", 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
		deadline := time.After(10 * time.Second)
		for {
			quiet := time.Second
			if n < want {
				quiet = 10 * time.Second
			}
			select {
			case m := <-wgot:
				switch {
				case m.Payload == "retained":
					n++
				case m.Topic == "mirror/m1/status":
					status = m.Payload
				}
			case <-time.After(quiet):
				return n, status
			case <-deadline:
				return n, status
			}
		}
	}
	if n, _ := countRetained("end1", embedbroker.MaxRetainedPerDevice); n != embedbroker.MaxRetainedPerDevice {
		t.Errorf("%d retained messages kept for m1, want the limit %d", n, embedbroker.MaxRetainedPerDevice)
	}
	// Clearing a retained topic frees a place for the status.
	m1.Publish("mirror/m1/junk/", 1, true, "").Wait()
	m1.Publish("mirror/m1/status", 1, true, "online").Wait()
	if n, status := countRetained("end2", embedbroker.MaxRetainedPerDevice-1); n != embedbroker.MaxRetainedPerDevice-1 || status != "online" {
		t.Errorf("after clearing one: %d junk and status %q, want %d and online", n, status, embedbroker.MaxRetainedPerDevice-1)
	}
}

// rawConnect opens a TCP connection and logs in with a hand-made MQTT 3.1.1 CONNECT.
func rawConnect(t *testing.T, addr, user, password string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	str := func(b []byte, s string) []byte { return append(binary.BigEndian.AppendUint16(b, uint16(len(s))), s...) }
	var body []byte
	body = str(body, "MQTT")
	body = append(body, 4, 0xC2, 0, 30) // level 4; username, password, clean; keep-alive 30 s
	body = str(body, "raw-"+user)
	body = str(body, user)
	body = str(body, password)
	pkt := append([]byte{0x10}, varint(len(body))...)
	c.Write(append(pkt, body...))
	ack := make([]byte, 4)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, ack); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		t.Fatalf("raw connect: CONNACK %x, %v", ack, err)
	}
	return c
}

func varint(n int) []byte {
	var b []byte
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

// Revocation (#23): a session opened with credentials that are then rotated, or whose device
// is then removed, is closed within the recheck, receives none of the commands sent after,
// and cannot log in again with the old password; the new credentials work.
func TestRotationAndRemovalCloseLiveSessions(t *testing.T) {
	b, st, creds := startBroker(t)
	// The holder of m1's old password: a live session subscribed to m1's commands.
	old, oldGot := session(t, b.Addr(), "m1", "m1", creds["m1"].MQTTPassword)
	if tok := old.Subscribe("mirror/m1/cmd/+", 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	m2, m2Got := session(t, b.Addr(), "m2", "m2", creds["m2"].MQTTPassword)
	if tok := m2.Subscribe("mirror/m2/cmd/+", 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	if n := b.Revoke(t.Context()); n != 0 {
		t.Fatalf("Revoke with nothing rotated closed %d sessions", n)
	}
	fresh, err := hub.RotateDevice(t.Context(), st, "m1")
	if err != nil {
		t.Fatal(err)
	}
	waitClosed(t, old) // Run's recheck, within a second or two
	b.Publish(t.Context(), "mirror/m1/cmd/restart", []byte(`{"id":"after-rotation"}`))
	select {
	case m := <-oldGot:
		t.Fatalf("the rotated-out session received %+v", m)
	case <-time.After(300 * time.Millisecond):
	}
	if _, _, err := connect(t, b.Addr(), "m1", creds["m1"].MQTTPassword); err == nil {
		t.Error("the old password logs in again after rotation")
	}
	_, newGot := session(t, b.Addr(), "m1", "m1", fresh.MQTTPassword)
	if m := recv(t, newGot); m.Payload != `{"id":"after-rotation"}` {
		t.Errorf("the new session got %+v, want the queued command", m)
	}
	// m2 was not touched; removing it closes its session.
	if !m2.IsConnectionOpen() {
		t.Fatal("m2 was disconnected by m1's rotation")
	}
	if err := st.RemoveDevice(t.Context(), "m2"); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, m2)
	b.Publish(t.Context(), "mirror/m2/cmd/restart", []byte(`{"id":"after-removal"}`))
	select {
	case m := <-m2Got:
		t.Fatalf("the removed device's session received %+v", m)
	case <-time.After(300 * time.Millisecond):
	}
	if _, _, err := connect(t, b.Addr(), "m2", creds["m2"].MQTTPassword); err == nil {
		t.Error("a removed device logs in")
	}
}

func waitClosed(t *testing.T, c paho.Client) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); c.IsConnectionOpen(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the session is still open 5 s after its credentials were revoked")
		}
	}
}
