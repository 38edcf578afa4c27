package fleet

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"
)

// Probe connects once with opts' broker, credentials and TLS and disconnects: the broker
// check of "mirror-agent check".
//
// It logs in under the device's own client ID (brokers tie the client ID to the username:
// mosquitto's use_username_as_clientid, the embedded broker likewise) with a persistent
// session, so it neither discards the agent's session nor takes anything from it: the probe
// speaks just CONNECT and DISCONNECT and acknowledges nothing, so a command the broker queued
// for the mirror and sends right after CONNACK stays unacknowledged in the session and is sent
// again to the agent when it connects.
//
// With Options.Failover it tries the brokers in turn, like the client, and succeeds with the
// first that accepts the device; otherwise it reports every broker's error. (On a broker that
// lets a new connection take a client ID over, such as NATS, the probe bumps a running agent
// for a moment: run the check with the agent stopped.)
func Probe(ctx context.Context, opts Options) error {
	o, err := opts.withDefaults()
	if err != nil {
		return err
	}
	var errs []error
	for _, b := range append([]string{o.Broker}, o.Failover...) {
		err := probe(ctx, o, b)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// probe checks one broker.
func probe(ctx context.Context, o Options, broker string) error {
	u, err := url.Parse(broker)
	if err != nil {
		return fmt.Errorf("fleet: probe: broker URL %q: %w", broker, err)
	}
	o.Broker = broker
	var cnt counters
	conn, err := dial(u, o.TLS, o.ConnectTimeout, &cnt)
	if err != nil {
		return fmt.Errorf("fleet: probe %s: %w", o.Broker, err)
	}
	defer conn.Close()
	deadline := time.Now().Add(o.ConnectTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	if _, err := conn.Write(connectPacket(o.DeviceID, o.DeviceID, o.Password, 30)); err != nil {
		return fmt.Errorf("fleet: probe %s: %w", o.Broker, probeErr(ctx, err))
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(conn, ack); err != nil {
		return fmt.Errorf("fleet: probe %s as %s: no CONNACK: %w", o.Broker, o.DeviceID, probeErr(ctx, err))
	}
	if ack[0] != 0x20 || ack[1] != 2 {
		return fmt.Errorf("fleet: probe %s as %s: not an MQTT broker (got %x)", o.Broker, o.DeviceID, ack)
	}
	if rc := ack[3]; rc != 0 {
		return fmt.Errorf("fleet: probe %s as %s: %s", o.Broker, o.DeviceID, connackReason(rc))
	}
	conn.Write([]byte{0xE0, 0}) // DISCONNECT: no will, the session stays
	return nil
}

func probeErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// connectPacket is an MQTT 3.1.1 CONNECT with a persistent session (clean session 0).
func connectPacket(clientID, user, password string, keepAlive uint16) []byte {
	str := func(b []byte, s string) []byte { return append(binary.BigEndian.AppendUint16(b, uint16(len(s))), s...) }
	flags := byte(0)
	if user != "" {
		flags |= 0x80
	}
	if password != "" {
		flags |= 0x40
	}
	body := str(nil, "MQTT")
	body = append(body, 4, flags)
	body = binary.BigEndian.AppendUint16(body, keepAlive)
	body = str(body, clientID)
	if user != "" {
		body = str(body, user)
	}
	if password != "" {
		body = str(body, password)
	}
	pkt := []byte{0x10}
	for n := len(body); ; {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		pkt = append(pkt, d)
		if n == 0 {
			break
		}
	}
	return append(pkt, body...)
}

// connackReason names an MQTT 3.1.1 CONNACK return code.
func connackReason(rc byte) error {
	switch rc {
	case 1:
		return errors.New("connection refused: unacceptable protocol version")
	case 2:
		return errors.New("connection refused: client identifier rejected")
	case 3:
		return errors.New("connection refused: server unavailable")
	case 4:
		return errors.New("connection refused: bad user name or password")
	case 5:
		return errors.New("connection refused: not authorized")
	}
	return fmt.Errorf("connection refused: return code %d", rc)
}
