package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Key describes one leaf key.
type Key struct {
	Name    string // dotted key, e.g. "presence.enter_dwell"
	Type    string // string, bool, int, float, duration or []string
	Default string // the current value, formatted as YAML would show it
	Help    string // from the help tag
	Allowed string // "0s..30s", "1..", "..100", "local|hub", or ""
}

// Keys lists every leaf key of v (a struct or pointer to struct) in
// declaration order; Default is v's current value formatted as YAML would
// show it. It returns nil if v is not a struct.
func Keys(v any) []Key {
	rv, ok := structValue(v)
	if !ok {
		return nil
	}
	fields, _ := schemaOf(rv.Type())
	var keys []Key
	var walk func(v reflect.Value, fields []*field)
	walk = func(v reflect.Value, fields []*field) {
		for _, f := range fields {
			fv := v.Field(f.index)
			if f.kind == kindStruct {
				walk(fv, f.fields)
				continue
			}
			keys = append(keys, Key{
				Name:    f.path,
				Type:    f.typeName(),
				Default: formatValue(fv, f),
				Help:    f.help,
				Allowed: f.allowed(),
			})
		}
	}
	walk(rv, fields)
	return keys
}

// Effective returns v as a nested map[string]any keyed by yaml names, for
// reporting the effective configuration as JSON or YAML. Durations become
// strings like "1s", lists []string (never nil), other values their basic Go
// type (string, bool, int…, float64). Marshalled to YAML, the result loads
// back to an equal struct. It returns nil if v is not a struct.
func Effective(v any) map[string]any {
	rv, ok := structValue(v)
	if !ok {
		return nil
	}
	fields, _ := schemaOf(rv.Type())
	return effective(rv, fields)
}

func effective(v reflect.Value, fields []*field) map[string]any {
	m := make(map[string]any, len(fields))
	for _, f := range fields {
		fv := v.Field(f.index)
		switch f.kind {
		case kindStruct:
			m[f.name] = effective(fv, f.fields)
		case kindDuration:
			m[f.name] = formatDuration(time.Duration(fv.Int()))
		case kindList:
			s := make([]string, fv.Len())
			for i := range s {
				s[i] = fv.Index(i).String()
			}
			m[f.name] = s
		case kindString:
			m[f.name] = fv.String()
		case kindBool:
			m[f.name] = fv.Bool()
		case kindInt:
			if fv.Kind() == reflect.Int {
				m[f.name] = int(fv.Int())
			} else {
				m[f.name] = fv.Int()
			}
		case kindFloat:
			m[f.name] = fv.Float()
		default:
			m[f.name] = fv.Interface()
		}
	}
	return m
}

// Markdown renders Keys(v) as a Markdown table with the columns
// | key | type | default | allowed | description |.
func Markdown(v any) string {
	var b strings.Builder
	b.WriteString("| key | type | default | allowed | description |\n")
	b.WriteString("|-----|------|---------|---------|-------------|\n")
	for _, k := range Keys(v) {
		allowed := k.Allowed
		if allowed != "" {
			allowed = "`" + allowed + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | `%s` | %s | %s |\n",
			cell(k.Name), cell(k.Type), cell(k.Default), cell(allowed), cell(k.Help))
	}
	return b.String()
}

// cell escapes s for a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.Join(strings.Fields(s), " ")
}

// structValue returns the struct v or *v points to.
func structValue(v any) (reflect.Value, bool) {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	return rv, rv.Kind() == reflect.Struct
}

// formatValue formats v, the value of field f, as YAML would show it.
func formatValue(v reflect.Value, f *field) string {
	switch f.kind {
	case kindDuration:
		return formatDuration(time.Duration(v.Int()))
	case kindFloat:
		return formatFloat(v.Float())
	case kindString, kindBool, kindInt:
		return yamlScalar(v.Interface())
	case kindList:
		items := make([]string, v.Len())
		for i := range items {
			items[i] = yamlScalar(v.Index(i).String())
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	return fmt.Sprint(v.Interface())
}

// yamlScalar marshals x as a one-line YAML scalar, quoting where YAML would.
func yamlScalar(x any) string {
	out, err := yaml.Marshal(x)
	s := strings.TrimSuffix(string(out), "\n")
	if err != nil || strings.Contains(s, "\n") {
		return strconv.Quote(fmt.Sprint(x))
	}
	return s
}

// formatDuration formats d like time.Duration.String without zero trailing
// units: "1m" rather than "1m0s", "2h" rather than "2h0m0s".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

func formatFloat(x float64) string {
	return yamlScalar(x)
}
