package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// parseValue parses a --set value as YAML; an empty value is a null scalar.
func parseValue(s string) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(s), &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		return nil, errors.New(strings.Join(strings.Fields(msg), " "))
	}
	if len(doc.Content) == 0 {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}, nil
	}
	return doc.Content[0], nil
}

// setKey applies key=value onto the struct v with keys root, then checks
// the tags of the key's field; on error v is unchanged.
func setKey(v reflect.Value, root []*field, key, value string) error {
	key = strings.TrimSpace(key)
	d := &decoder{root: root}
	var f *field
	fv := v
	fields := root
	for part := range strings.SplitSeq(key, ".") {
		if f != nil && f.kind != kindStruct {
			f = nil
			break
		}
		if f = lookup(fields, part); f == nil {
			break
		}
		fv, fields = fv.Field(f.index), f.fields
	}
	if f == nil {
		return d.unknown(nil, key)
	}
	tmp := reflect.New(f.typ).Elem()
	tmp.Set(fv)
	switch t := strings.TrimSpace(value); {
	case f.kind == kindString:
		// Verbatim, so that passwords like "*x" or "!x" survive, unless quoted.
		s := value
		if n, err := parseValue(value); err == nil && n.Kind == yaml.ScalarNode &&
			n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
			s = n.Value
		}
		tmp.SetString(s)
	case f.kind == kindList && !strings.HasPrefix(t, "["):
		var items []string
		for item := range strings.SplitSeq(t, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		s := reflect.MakeSlice(f.typ, len(items), len(items))
		for i, item := range items {
			s.Index(i).SetString(item)
		}
		tmp.Set(s)
	default:
		n, err := parseValue(value)
		if err != nil {
			if f.kind == kindStruct || f.kind == kindList {
				return fmt.Errorf("%s: %q is not valid YAML: %s", key, value, err)
			}
			// Let the scalar parser say what is wrong with the text.
			n = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: t}
		}
		if err := d.value(n, tmp, f); err != nil {
			return err
		}
	}
	var err error
	if f.kind == kindStruct {
		err = check(tmp, f.fields)
	} else {
		err = checkLeaf(tmp, f)
	}
	if err != nil {
		return err
	}
	fv.Set(tmp)
	return nil
}
