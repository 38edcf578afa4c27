package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// onDesired applies a desired configuration and reports the outcome, retained, on
// config/reported. A version not newer than the last one handled (the retained message
// delivered again on reconnect) is ignored.
func (c *Client) onDesired(ctx context.Context, mc mqtt.Client, payload []byte) {
	c.cfgMu.Lock() // one desired config at a time, in arrival order
	defer c.cfgMu.Unlock()
	rep := wire.Reported{AppliedAt: wire.Time{Time: c.opts.Now()}}
	var d wire.Desired
	if err := json.Unmarshal(payload, &d); err != nil {
		rep.Error = &wire.Error{Code: wire.CodeInvalidConfig, Message: fmt.Sprintf("config/desired is not valid JSON: %v", err)}
		c.report(mc, rep)
		return
	}
	if d.Version < 1 || d.Version > wire.MaxConfigVersion {
		// Out of range: taking it would make every later (smaller) version look old, and
		// mirrorctl's next version (last + 1) overflow. Reported with version 0, so that the
		// report does not carry the bad number on either.
		rep.Error = &wire.Error{Code: wire.CodeInvalidConfig, Message: fmt.Sprintf("config version %d is out of range 1..%d", d.Version, wire.MaxConfigVersion)}
		c.log.Warn("desired config refused", "version", d.Version, "err", rep.Error.Message)
		c.report(mc, rep)
		return
	}
	rep.Version = d.Version
	if d.Version <= c.lastDesired {
		c.log.Debug("desired config already handled", "version", d.Version, "last", c.lastDesired)
		return
	}
	c.lastDesired = d.Version
	sets, err := Flatten(d.Config)
	if err == nil && c.opts.ApplyConfig == nil {
		err = errors.New("this mirror does not take configuration over MQTT")
	}
	if err != nil {
		rep.Error = &wire.Error{Code: wire.CodeInvalidConfig, Message: err.Error()}
		c.log.Warn("desired config refused", "version", d.Version, "err", err)
		c.report(mc, rep)
		return
	}
	eff, err := c.opts.ApplyConfig(ctx, d.Version, sets)
	if eff != nil {
		if b, merr := json.Marshal(eff); merr == nil {
			rep.Config = b
		}
	}
	if err != nil {
		rep.Error = &wire.Error{Code: wire.CodeInvalidConfig, Message: err.Error()}
		c.log.Warn("desired config refused", "version", d.Version, "err", err)
	} else {
		c.log.Info("desired config applied", "version", d.Version, "keys", len(sets))
	}
	c.report(mc, rep)
}

func (c *Client) report(mc mqtt.Client, rep wire.Reported) {
	b, _ := json.Marshal(rep)
	if err := c.publish(mc, c.topics.Reported(), true, b); err != nil {
		c.log.Warn("config report not published", "version", rep.Version, "err", err)
	}
}

// Flatten turns a partial configuration — nested JSON objects, as in the YAML file — into
// sorted dotted settings ("presence.enter_dwell=1s") for the configuration loader. Strings
// are taken verbatim, numbers and booleans as written, arrays as JSON (which YAML reads as a
// flow sequence). A null or an empty key is an error naming the key.
func Flatten(partial json.RawMessage) ([]string, error) {
	if len(bytes.TrimSpace(partial)) == 0 || string(bytes.TrimSpace(partial)) == "null" {
		return nil, nil
	}
	var root map[string]json.RawMessage
	if err := json.Unmarshal(partial, &root); err != nil {
		return nil, fmt.Errorf("config must be a JSON object: %v", err)
	}
	var out []string
	if err := flatten("", root, &out); err != nil {
		return nil, err
	}
	sort.Strings(out)
	return out, nil
}

func flatten(prefix string, m map[string]json.RawMessage, out *[]string) error {
	for k, raw := range m {
		if !keyName(k) {
			return fmt.Errorf("%s%q: not a configuration key", prefix, k)
		}
		key := prefix + k
		v := bytes.TrimSpace(raw)
		switch {
		case len(v) == 0 || string(v) == "null":
			return fmt.Errorf("%s: null is not a value", key)
		case v[0] == '{':
			var sub map[string]json.RawMessage
			if err := json.Unmarshal(v, &sub); err != nil {
				return fmt.Errorf("%s: %v", key, err)
			}
			if err := flatten(key+".", sub, out); err != nil {
				return err
			}
		case v[0] == '"':
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("%s: %v", key, err)
			}
			*out = append(*out, key+"="+s)
		default: // number, bool, array
			*out = append(*out, key+"="+string(v))
		}
	}
	return nil
}

// keyName reports whether k can be one part of a dotted configuration key: letters, digits,
// '_' and '-' (every key in docs/config.md is such a name; spaces, dots, '=' and control
// characters are not).
func keyName(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// Unflatten is the inverse of [Flatten] for mirrorctl: "presence.enter_dwell=1s" settings
// become a nested JSON object with string values, merged over base (which may be nil).
func Unflatten(base json.RawMessage, sets []string) (json.RawMessage, error) {
	root := map[string]any{}
	if len(bytes.TrimSpace(base)) > 0 && string(bytes.TrimSpace(base)) != "null" {
		if err := json.Unmarshal(base, &root); err != nil {
			return nil, fmt.Errorf("current desired config: %v", err)
		}
	}
	for _, s := range sets {
		key, value, ok := strings.Cut(s, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return nil, fmt.Errorf("%q: want key=value", s)
		}
		parts := strings.Split(key, ".")
		m := root
		for i, p := range parts {
			if p == "" {
				return nil, fmt.Errorf("%q: empty part in key", key)
			}
			if i == len(parts)-1 {
				m[p] = value
				break
			}
			sub, ok := m[p].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[p] = sub
			}
			m = sub
		}
	}
	return json.Marshal(root)
}
