// Package config loads the configuration of the fitmirror binaries
// (mirror-agent, mirror-cloud, mirrorctl) onto a Go struct.
//
// Each binary declares its configuration as a struct whose fields carry
// struct tags, and fills in the defaults itself before calling [Load]:
//
//	type Presence struct {
//		EnterDwell time.Duration `yaml:"enter_dwell" help:"how long someone must stand still" range:"0s,30s"`
//	}
//	type Config struct {
//		Presence Presence `yaml:"presence"`
//		Provider string   `yaml:"provider" enum:"local,hub"`
//	}
//
// The tags are:
//
//   - yaml:"name" makes a field a configuration key; fields without a yaml
//     tag, with yaml:"-" or unexported are ignored.
//   - help:"one line" documents the key for [Keys] and [Markdown].
//   - range:"min,max" bounds an integer, float or duration; either side may be empty.
//   - enum:"a,b,c" lists the allowed values of a string (or of each element of a []string).
//
// Supported field types are string, bool, the signed integers, float32/64,
// time.Duration (written with a unit: "1s", "250ms"), []string and nested
// structs, which become mappings and dotted keys ("presence.enter_dwell").
//
// [Load] reads a YAML file and then applies "key=value" overrides (the
// --set flags) with [Set]; both report errors on one line naming the file
// line and the dotted key, for example
//
//	config.yaml:4: unknown key "presence.enter_dwel" (did you mean "presence.enter_dwell"?)
//	--set camera.fps: "abc" is not a number
//	presence.enter_dwell: must be between 0s and 30s (got 45s)
//
// [Keys], [Markdown] and [Effective] describe the keys and the effective
// configuration for documentation and for "show config" commands.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
)

// Validator is implemented by configuration structs (or nested sections)
// that check constraints spanning several fields. [Load] and [Check] call
// Validate after all tag checks passed.
type Validator interface {
	Validate() error
}

// Load decodes the YAML file (if file != "") and then each "key=value" in
// sets onto dst, a non-nil pointer to a struct that already holds the
// defaults. Then it checks every field's range/enum tags and, if dst (or a
// nested section) implements [Validator], calls Validate.
//
// Keys the file omits keep their defaults; a --set value wins over the file.
// An empty file or a null document changes nothing. On error dst is left
// unchanged.
func Load(dst any, file string, sets []string) error {
	rv, err := target(dst, "Load")
	if err != nil {
		return err
	}
	root, err := schemaOf(rv.Type().Elem())
	if err != nil {
		return err
	}
	// Work on a copy so that a failed Load leaves dst as it was.
	tmp := reflect.New(rv.Type().Elem()).Elem()
	tmp.Set(rv.Elem())

	if file != "" {
		if err := loadFile(tmp, root, file); err != nil {
			return err
		}
	}
	for _, s := range sets {
		key, value, ok := strings.Cut(s, "=")
		if !ok || strings.TrimSpace(key) == "" {
			return fmt.Errorf("--set %q: want key=value", s)
		}
		if err := setKey(tmp, root, key, value); err != nil {
			return fmt.Errorf("--set %w", err)
		}
	}
	if err := check(tmp, root); err != nil {
		return err
	}
	if err := validate(tmp, root); err != nil {
		return err
	}
	rv.Elem().Set(tmp)
	return nil
}

// Set applies one dotted key (e.g. "presence.enter_dwell") and a textual
// value to dst, a non-nil pointer to a struct, and checks the range/enum tags
// of that field. Validator is not called: use [Check] once all values are in.
//
// The value is parsed as a YAML scalar or flow value ("5s", "true",
// "[a, b]", "{enter_dwell: 5s}"), with two exceptions that keep shell use
// simple: a string key takes the text verbatim unless it is a quoted YAML
// scalar ("'a: b'"), and a []string key also takes comma-separated text
// ("a,b"). On error dst is left unchanged.
func Set(dst any, key, value string) error {
	rv, err := target(dst, "Set")
	if err != nil {
		return err
	}
	root, err := schemaOf(rv.Type().Elem())
	if err != nil {
		return err
	}
	return setKey(rv.Elem(), root, key, value)
}

// Check runs all range/enum tag checks and then [Validator] (of nested
// sections first, then of v itself) on v, a struct or pointer to struct.
// Errors from a nested section's Validate are prefixed with its dotted key;
// the error of v's own Validate is returned as is.
func Check(v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return fmt.Errorf("config: Check: nil %s", rv.Type())
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return fmt.Errorf("config: Check: want a struct or pointer to struct, got %s", typeString(v))
	}
	if !rv.CanAddr() {
		c := reflect.New(rv.Type()).Elem()
		c.Set(rv)
		rv = c
	}
	root, err := schemaOf(rv.Type())
	if err != nil {
		return err
	}
	if err := check(rv, root); err != nil {
		return err
	}
	return validate(rv, root)
}

// target checks that dst is a non-nil pointer to a struct.
func target(dst any, op string) (reflect.Value, error) {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, fmt.Errorf("config: %s: want a non-nil pointer to a struct, got %s", op, typeString(dst))
	}
	return rv, nil
}

func typeString(v any) string {
	if v == nil {
		return "nil"
	}
	t := reflect.TypeOf(v)
	if reflect.ValueOf(v).Kind() == reflect.Pointer && reflect.ValueOf(v).IsNil() {
		return "nil " + t.String()
	}
	return t.String()
}

// loadFile reads file and decodes it onto v.
func loadFile(v reflect.Value, root []*field, file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		// The PathError repeats the path: keep only its cause.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("config: read %s: %w", file, err)
	}
	name := filepath.Base(file)
	n, err := parseFile(name, data)
	if err != nil || n == nil {
		return err
	}
	d := &decoder{file: name, root: root}
	return d.mapping(n, v, root, "")
}

// validate calls the Validate methods of the nested sections of v (depth
// first, in declaration order) and then of v itself; v must be addressable.
func validate(v reflect.Value, fields []*field) error {
	for _, f := range fields {
		if f.kind != kindStruct {
			continue
		}
		if err := validate(v.Field(f.index), f.fields); err != nil {
			var se *sectionError
			if errors.As(err, &se) {
				return err
			}
			return &sectionError{f.path, err}
		}
	}
	if val, ok := v.Addr().Interface().(Validator); ok {
		return val.Validate()
	}
	return nil
}

// sectionError is the error of a nested section's Validate.
type sectionError struct {
	path string
	err  error
}

func (e *sectionError) Error() string { return e.path + ": " + e.err.Error() }
func (e *sectionError) Unwrap() error { return e.err }

// check runs the range and enum checks of fields on v, a struct value.
func check(v reflect.Value, fields []*field) error {
	for _, f := range fields {
		fv := v.Field(f.index)
		var err error
		if f.kind == kindStruct {
			err = check(fv, f.fields)
		} else {
			err = checkLeaf(fv, f)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
