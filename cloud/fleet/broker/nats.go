package broker

import (
	_ "embed"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats-server/v2/conf"

	"github.com/fitmirror/fitmirror/internal/wire"
)

// NATSConfig is the shipped nats.conf: one node of a three-node NATS cluster serving the
// fleet over MQTT, with JetStream for sessions, QoS 1 messages and retained messages.
//
//go:embed nats.conf
var NATSConfig string

// NATSUser is one account of the NATS fleet broker: a device (Name is its ID) or one of the
// service accounts HubUser, OpsUser and HAUser.
type NATSUser struct {
	Name string
	// Password is a bcrypt hash ("$2a$…", as `nats server passwd` or `htpasswd -bnBC 11 ""`
	// make) or, on a test bench, the password itself. A hash keeps the file harmless to read.
	Password string
}

// NATSPermissions are the subjects user may publish and subscribe to on a NATS broker whose
// MQTT topic prefix is prefix ("" = "mirror"): exactly what NATSUsers writes for it, and what
// the auth callout (package natsauth) grants it.
func NATSPermissions(prefix, user string) (pub, sub []string) {
	if prefix == "" {
		prefix = "mirror"
	}
	return natsPerms(prefix, user)
}

// natsPerms are the subjects a user may publish and subscribe to. MQTT topics become NATS
// subjects with "/" as ".": mirror/m1/# is mirror.m1 and mirror.m1.>; "+" is "*". NATS
// subscribes an MQTT filter "x/#" to both "x" and "x.>" and refuses the whole filter when
// either is denied, so every "#" rule lists both.
func natsPerms(prefix, user string) (pub, sub []string) {
	switch user {
	case HubUser: // as the acl: reads status, telemetry, events, results and configuration, sends bindings, commands and desired configuration
		return []string{prefix + ".*.binding", prefix + ".*.cmd.*", prefix + ".*.config.desired"},
			[]string{prefix + ".*.status", prefix + ".*.telemetry", prefix + ".*.events", prefix + ".*.cmd.*.result", prefix + ".*.config.reported", prefix + ".*.config.desired"}
	case OpsUser: // reads everything, sends commands and desired configuration, HA discovery
		return []string{prefix + ".*.cmd.*", prefix + ".*.config.desired", "homeassistant", "homeassistant.>"},
			[]string{prefix, prefix + ".>", "homeassistant", "homeassistant.>"}
	case HAUser: // reads status and telemetry, owns its discovery tree
		return []string{"homeassistant", "homeassistant.>"},
			[]string{prefix + ".*.status", prefix + ".*.telemetry", "homeassistant", "homeassistant.>"}
	}
	// A device: its own subtree, as the acl's "pattern readwrite mirror/%u/#".
	own := []string{prefix + "." + user, prefix + "." + user + ".>"}
	return own, own
}

// NATSUsers writes the authorization block that nats.conf includes (fitmirror-users.conf):
// every user is MQTT-only and may use exactly the subjects the mosquitto acl grants it, prefix
// being mqtt.topic_prefix ("" = "mirror"). Device names must be device IDs; names starting
// with "_" must be one of the service accounts.
func NATSUsers(prefix string, users []NATSUser) (string, error) {
	if prefix == "" {
		prefix = "mirror"
	}
	if strings.ContainsAny(prefix, "/+#.*> \t") {
		return "", fmt.Errorf("broker: topic prefix %q must be one topic level", prefix)
	}
	var b strings.Builder
	b.WriteString("# fitmirror fleet users for nats.conf (written by broker.NATSUsers). Each device may use\n")
	fmt.Fprintf(&b, "# only %s/<its id>/# (the subjects %s.<id> and %s.<id>.>); all users are MQTT-only.\n", prefix, prefix, prefix)
	b.WriteString("authorization {\n  users = [\n")
	seen := map[string]bool{}
	for _, u := range users {
		if err := checkNATSUser(u, seen); err != nil {
			return "", err
		}
		pub, sub := natsPerms(prefix, u.Name)
		fmt.Fprintf(&b, "    {user: %q, password: %q, allowed_connection_types: [\"MQTT\"],\n", u.Name, u.Password)
		fmt.Fprintf(&b, "     permissions: {publish: {allow: %s}, subscribe: {allow: %s}}}\n", natsList(pub), natsList(sub))
	}
	b.WriteString("  ]\n}\n")
	return b.String(), nil
}

func natsList(subjects []string) string {
	q := make([]string, len(subjects))
	for i, s := range subjects {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// checkNATSUser checks one user of a users file: a device ID or a service account, listed
// once, with a password that the file can hold.
func checkNATSUser(u NATSUser, seen map[string]bool) error {
	switch {
	case u.Name == HubUser || u.Name == OpsUser || u.Name == HAUser:
	case wire.ValidDeviceID(u.Name):
	default:
		return fmt.Errorf("broker: user %q is neither a device ID nor a service account", u.Name)
	}
	if seen[u.Name] {
		return fmt.Errorf("broker: user %q listed twice", u.Name)
	}
	seen[u.Name] = true
	if u.Password == "" {
		return fmt.Errorf("broker: user %q has no password", u.Name)
	}
	if strings.ContainsAny(u.Password, "\"\\\n\r\t") {
		return errors.New("broker: a password must not contain quotes, backslashes or control characters")
	}
	return nil
}

// ReadNATSUsers reads a users file as NATSUsers writes it (fitmirror-users.conf, nats-server's
// configuration syntax) and returns its users: names and passwords (bcrypt hashes or plain).
// The permissions in the file are not read: they follow from the names (NATSPermissions).
func ReadNATSUsers(path string) ([]NATSUser, error) {
	m, err := conf.ParseFile(path)
	if err != nil {
		return nil, fmt.Errorf("broker: users file: %w", err)
	}
	auth, ok := m["authorization"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("broker: users file %s: no authorization block", path)
	}
	list, ok := auth["users"].([]any)
	if !ok {
		return nil, fmt.Errorf("broker: users file %s: no users list in the authorization block", path)
	}
	seen := map[string]bool{}
	out := make([]NATSUser, 0, len(list))
	for i, e := range list {
		entry, ok := e.(map[string]any)
		name, _ := entry["user"].(string)
		pw, _ := entry["password"].(string)
		if !ok || name == "" {
			return nil, fmt.Errorf("broker: users file %s: user %d has no name", path, i+1)
		}
		u := NATSUser{Name: name, Password: pw}
		if err := checkNATSUser(u, seen); err != nil {
			return nil, fmt.Errorf("%w (users file %s)", err, path)
		}
		out = append(out, u)
	}
	return out, nil
}
