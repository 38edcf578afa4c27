package config

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// kind is the configuration type of a field.
type kind int

const (
	kindUnsupported kind = iota
	kindString
	kindBool
	kindInt
	kindFloat
	kindDuration
	kindList
	kindStruct
)

var durationType = reflect.TypeFor[time.Duration]()

// field describes one configuration key of a struct type.
type field struct {
	name   string // yaml name
	path   string // dotted key from the root
	index  int    // index of the struct field in its parent
	typ    reflect.Type
	kind   kind
	help   string
	enum   []string // allowed values, from the enum tag
	rng    *bounds  // from the range tag
	rawRng string   // the range tag as written
	fields []*field // keys of a nested section (kindStruct)
}

// bounds is a parsed range tag. Integers and durations use lo/hi, floats
// flo/fhi; loText/hiText are the bounds formatted for messages.
type bounds struct {
	hasLo, hasHi   bool
	lo, hi         int64
	flo, fhi       float64
	loText, hiText string
}

// allowed returns the Key.Allowed text of f.
func (f *field) allowed() string {
	switch {
	case f.enum != nil:
		return strings.Join(f.enum, "|")
	case f.rng != nil:
		return f.rng.loText + ".." + f.rng.hiText
	}
	return f.rawRng
}

// schemaOf returns the keys of struct type t in declaration order. It
// returns the first problem with the struct definition (an unsupported
// type, a bad tag) as an error, but still describes every field so that
// Keys can work on imperfect structs.
func schemaOf(t reflect.Type) ([]*field, error) {
	var first error
	fields := build(t, "", &first)
	return fields, first
}

func build(t reflect.Type, prefix string, first *error) []*field {
	fail := func(err error) {
		if *first == nil {
			*first = err
		}
	}
	var fields []*field
	seen := make(map[string]bool)
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if !sf.IsExported() || name == "" || name == "-" {
			continue
		}
		f := &field{
			name:  name,
			path:  join(prefix, name),
			index: i,
			typ:   sf.Type,
			kind:  kindOf(sf.Type),
			help:  sf.Tag.Get("help"),
		}
		fields = append(fields, f)
		if strings.Contains(name, ".") {
			fail(fmt.Errorf("config: %s.%s: yaml name %q must not contain a dot", t, sf.Name, name))
		}
		if seen[name] {
			fail(fmt.Errorf("config: %s: duplicate key in %s", f.path, t))
		}
		seen[name] = true
		switch f.kind {
		case kindUnsupported:
			fail(fmt.Errorf("config: %s: unsupported type %s", f.path, f.typ))
		case kindStruct:
			f.fields = build(f.typ, f.path, first)
		}
		if tag, ok := sf.Tag.Lookup("enum"); ok {
			f.enum = strings.Split(tag, ",")
			for j := range f.enum {
				f.enum[j] = strings.TrimSpace(f.enum[j])
			}
			if f.kind != kindString && f.kind != kindList {
				fail(fmt.Errorf("config: %s: enum tag on %s, want a string", f.path, f.typ))
			}
		}
		if tag, ok := sf.Tag.Lookup("range"); ok {
			f.rawRng = tag
			b, err := parseBounds(f, tag)
			if err != nil {
				fail(fmt.Errorf("config: %s: bad range tag %q: %v", f.path, tag, err))
			}
			f.rng = b
		}
	}
	return fields
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func kindOf(t reflect.Type) kind {
	if t == durationType {
		return kindDuration
	}
	switch t.Kind() {
	case reflect.String:
		return kindString
	case reflect.Bool:
		return kindBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return kindInt
	case reflect.Float32, reflect.Float64:
		return kindFloat
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return kindList
		}
	case reflect.Struct:
		return kindStruct
	}
	return kindUnsupported
}

// typeName is the type shown to operators in Keys.
func (f *field) typeName() string {
	switch f.kind {
	case kindString:
		return "string"
	case kindBool:
		return "bool"
	case kindInt:
		return "int"
	case kindFloat:
		return "float"
	case kindDuration:
		return "duration"
	case kindList:
		return "[]string"
	}
	return f.typ.String()
}

func parseBounds(f *field, tag string) (*bounds, error) {
	lo, hi, ok := strings.Cut(tag, ",")
	if !ok {
		return nil, fmt.Errorf("want min,max")
	}
	lo, hi = strings.TrimSpace(lo), strings.TrimSpace(hi)
	b := &bounds{hasLo: lo != "", hasHi: hi != ""}
	one := func(s string, i *int64, fl *float64, text *string) error {
		if s == "" {
			return nil
		}
		var err error
		switch f.kind {
		case kindInt:
			*i, err = parseInt(s, 64)
			*text = strconv.FormatInt(*i, 10)
		case kindDuration:
			var d time.Duration
			d, err = parseDuration(s)
			*i, *text = int64(d), formatDuration(d)
		case kindFloat:
			*fl, err = parseFloat(s, 64)
			*text = formatFloat(*fl)
		default:
			err = fmt.Errorf("range tag on %s, want a number or duration", f.typ)
		}
		return err
	}
	if err := one(lo, &b.lo, &b.flo, &b.loText); err != nil {
		return nil, err
	}
	if err := one(hi, &b.hi, &b.fhi, &b.hiText); err != nil {
		return nil, err
	}
	return b, nil
}

// checkLeaf checks the range and enum tags of f against v.
func checkLeaf(v reflect.Value, f *field) error {
	if b := f.rng; b != nil {
		var low, high bool
		var got string
		switch f.kind {
		case kindInt, kindDuration:
			x := v.Int()
			low, high = b.hasLo && x < b.lo, b.hasHi && x > b.hi
			got = formatValue(v, f)
		case kindFloat:
			x := v.Float()
			low = b.hasLo && (x < b.flo || math.IsNaN(x))
			high = b.hasHi && (x > b.fhi || math.IsNaN(x))
			got = formatValue(v, f)
		}
		switch {
		case (low || high) && b.hasLo && b.hasHi:
			return fmt.Errorf("%s: must be between %s and %s (got %s)", f.path, b.loText, b.hiText, got)
		case low:
			return fmt.Errorf("%s: must be at least %s (got %s)", f.path, b.loText, got)
		case high:
			return fmt.Errorf("%s: must be at most %s (got %s)", f.path, b.hiText, got)
		}
	}
	if f.enum != nil {
		var vals []string
		switch f.kind {
		case kindString:
			vals = []string{v.String()}
		case kindList:
			for i := range v.Len() {
				vals = append(vals, v.Index(i).String())
			}
		}
		for _, s := range vals {
			if !slices.Contains(f.enum, s) {
				return fmt.Errorf("%s: must be one of %s (got %q)", f.path, strings.Join(f.enum, ", "), s)
			}
		}
	}
	return nil
}

// lookup returns the field named name, or nil.
func lookup(fields []*field, name string) *field {
	for _, f := range fields {
		if f.name == name {
			return f
		}
	}
	return nil
}
