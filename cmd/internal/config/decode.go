package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decoder walks YAML nodes against the schema of a struct.
type decoder struct {
	file string   // base name of the file, for messages; "" for --set values
	root []*field // all keys, for suggestions
}

// errorf returns an error located at n (in a file) about key.
func (d *decoder) errorf(n *yaml.Node, key, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if key != "" {
		msg = key + ": " + msg
	}
	if d.file != "" {
		return fmt.Errorf("%s:%d: %s", d.file, n.Line, msg)
	}
	return errors.New(msg)
}

// unknown reports the unknown key path found at n.
func (d *decoder) unknown(n *yaml.Node, path string) error {
	if d.file != "" {
		return d.errorf(n, "", "unknown key %q%s", path, suggest(d.root, path))
	}
	return d.errorf(n, path, "unknown key%s", suggest(d.root, path))
}

// mapping decodes n, which should be a mapping (or null), onto the struct v
// whose keys are fields and whose dotted key is prefix.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, fields []*field, prefix string) error {
	n = resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		if prefix == "" {
			return d.errorf(n, "", "want a mapping of keys at the top level, got %s", describe(n))
		}
		return d.errorf(n, prefix, "want a mapping of keys, got %s", describe(n))
	}
	seen := make(map[string]bool)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return d.errorf(k, prefix, "want a key name, got %s", describe(k))
		}
		if k.ShortTag() == "!!merge" {
			return d.errorf(k, prefix, "merge keys (<<) are not supported")
		}
		path := join(prefix, k.Value)
		if seen[k.Value] {
			return d.errorf(k, "", "duplicate key %q", path)
		}
		seen[k.Value] = true
		f := lookup(fields, k.Value)
		if f == nil {
			return d.unknown(k, path)
		}
		if err := d.value(val, v.Field(f.index), f); err != nil {
			return err
		}
	}
	return nil
}

// value decodes n onto v, the value of field f.
func (d *decoder) value(n *yaml.Node, v reflect.Value, f *field) error {
	n = resolve(n)
	switch f.kind {
	case kindStruct:
		return d.mapping(n, v, f.fields, f.path)
	case kindList:
		if isNull(n) {
			v.Set(reflect.MakeSlice(f.typ, 0, 0))
			return nil
		}
		if n.Kind != yaml.SequenceNode {
			return d.errorf(n, f.path, "want a list, got %s", describe(n))
		}
		s := reflect.MakeSlice(f.typ, len(n.Content), len(n.Content))
		for i, e := range n.Content {
			e = resolve(e)
			if e.Kind != yaml.ScalarNode {
				return d.errorf(e, fmt.Sprintf("%s[%d]", f.path, i), "want a string, got %s", describe(e))
			}
			if !isNull(e) {
				s.Index(i).SetString(e.Value)
			}
		}
		v.Set(s)
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return d.errorf(n, f.path, "want %s, got %s", want(f.kind), describe(n))
	}
	if isNull(n) {
		if f.kind == kindString {
			v.SetString("")
			return nil
		}
		return d.errorf(n, f.path, "missing value, want %s", want(f.kind))
	}
	if err := setScalar(v, f, n.Value); err != nil {
		return d.errorf(n, f.path, "%v", err)
	}
	return nil
}

// setScalar parses s according to f's kind and stores it in v.
func setScalar(v reflect.Value, f *field, s string) error {
	switch f.kind {
	case kindString:
		v.SetString(s)
	case kindBool:
		b, err := parseBool(s)
		if err != nil {
			return err
		}
		v.SetBool(b)
	case kindInt:
		i, err := parseInt(s, f.typ.Bits())
		if err != nil {
			return err
		}
		v.SetInt(i)
	case kindFloat:
		x, err := parseFloat(s, f.typ.Bits())
		if err != nil {
			return err
		}
		v.SetFloat(x)
	case kindDuration:
		x, err := parseDuration(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(x))
	default:
		return fmt.Errorf("unsupported type %s", f.typ)
	}
	return nil
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "on":
		return true, nil
	case "false", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false", s)
}

// parseInt parses a decimal integer, or one with a 0x, 0o or 0b prefix.
func parseInt(s string, bits int) (int64, error) {
	t := strings.TrimSpace(s)
	base := 10
	switch p := strings.ToLower(strings.TrimLeft(t, "+-")); {
	case strings.HasPrefix(p, "0x"), strings.HasPrefix(p, "0o"), strings.HasPrefix(p, "0b"):
		base = 0
	}
	i, err := strconv.ParseInt(t, base, bits)
	switch {
	case err == nil:
		return i, nil
	case errors.Is(err, strconv.ErrRange):
		return 0, fmt.Errorf("%q is out of range", s)
	}
	if _, err := strconv.ParseFloat(t, 64); err == nil {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	return 0, fmt.Errorf("%q is not a number", s)
}

func parseFloat(s string, bits int) (float64, error) {
	t := strings.TrimSpace(s)
	switch strings.ToLower(t) {
	case ".inf", "+.inf":
		return math.Inf(1), nil
	case "-.inf":
		return math.Inf(-1), nil
	}
	x, err := strconv.ParseFloat(t, bits)
	switch {
	case errors.Is(err, strconv.ErrRange):
		return 0, fmt.Errorf("%q is out of range", s)
	case err != nil || math.IsNaN(x):
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return x, nil
}

var bareNumber = regexp.MustCompile(`^[-+]?([0-9][0-9_]*)?(\.[0-9]*)?$`)

// parseDuration parses a Go duration with units; "0" is the only number
// accepted without one.
func parseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if bareNumber.MatchString(t) && strings.ContainsAny(t, "0123456789") {
		if x, err := strconv.ParseFloat(t, 64); err == nil && x == 0 {
			return 0, nil
		}
		return 0, fmt.Errorf("%q needs a unit, e.g. %ss", s, t)
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration, e.g. 1s or 250ms", s)
	}
	return d, nil
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	if n == nil || n.Kind == yaml.AliasNode {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == 0 || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what n is, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case isNull(n):
		return "nothing"
	}
	return strconv.Quote(n.Value)
}

func want(k kind) string {
	switch k {
	case kindString:
		return "a string"
	case kindBool:
		return "true or false"
	case kindInt:
		return "a whole number"
	case kindFloat:
		return "a number"
	case kindDuration:
		return "a duration such as 1s"
	case kindList:
		return "a list"
	case kindStruct:
		return "a mapping of keys"
	}
	return "a value"
}

// parseFile parses data as a single YAML document. It returns nil for an
// empty file.
func parseFile(name string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return nil, nil
		}
		return nil, syntaxError(name, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == io.EOF:
	case err != nil:
		return nil, syntaxError(name, err)
	case len(extra.Content) > 0 && !isNull(extra.Content[0]):
		return nil, fmt.Errorf("%s:%d: want one YAML document, found another", name, extra.Content[0].Line)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

// syntaxError reports a yaml.v3 error as "config.yaml: line 3: did not
// find …". The line stays in yaml.v3's words: for some errors it counts
// from 0, so it is not given as a file:line position.
func syntaxError(name string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	return fmt.Errorf("%s: %s", name, strings.Join(strings.Fields(msg), " "))
}
