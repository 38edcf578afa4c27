package wire

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// payloads are the types that travel (docs/contracts.md): TestTimestampsInContractFormat
// marshals each one. A type of this package with a time in it must be here (the test fails
// otherwise); a new one is one more entry.
var payloads = []any{
	Status{}, Telemetry{}, TelemetrySession{}, Counters{}, Event{},
	CommandRequest{}, CommandResult{}, Error{}, Desired{}, Reported{}, Binding{},
	PingResult{}, EndSessionResult{}, PurgePhotosResult{}, SetLightArgs{}, SetLightResult{},
	AnalyticsArgs{}, Analytics{}, RestartResult{}, ReloadKioskResult{}, SnapshotResult{},
	Health{}, Problem{},
	SessionClosed{}, PhotoCaptured{}, QRShown{}, PhotoBound{}, PhotoPurged{}, StaffCalled{}, CameraLost{}, CameraRestored{},
	DiskLow{}, ConfigApplied{}, OutboxDropped{}, OutboxFailed{},
	APIError{}, PhotoUploaded{}, QRRequest{}, QRCode{}, PendingBindings{}, AckRequest{}, AckResult{},
}

// filledAt is the time put in every time field: nanoseconds and a zone, which the contracts'
// format drops and converts; wantAt is how it must travel.
var (
	filledAt = time.Date(2026, 12, 7, 9, 2, 3, 456789123, time.FixedZone("CST", 8*3600))
	wantAt   = "2026-12-07T01:02:03.456Z"
)

var (
	looksLikeTime = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T`)
	contractTime  = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$`)
)

// TestTimestampsInContractFormat: every payload type, with every field set (times with
// nanoseconds in a zone), marshals each of its times as RFC 3339 with exactly milliseconds in
// UTC, and as many times as it holds.
func TestTimestampsInContractFormat(t *testing.T) {
	for _, p := range payloads {
		typ := reflect.TypeOf(p)
		t.Run(typ.Name(), func(t *testing.T) {
			v := reflect.New(typ)
			times := fill(v.Elem())
			b, err := json.Marshal(v.Interface())
			if err != nil {
				t.Fatalf("json.Marshal: %v", err)
			}
			dec := json.NewDecoder(strings.NewReader(string(b)))
			dec.UseNumber()
			var doc any
			if err := dec.Decode(&doc); err != nil {
				t.Fatalf("json.Unmarshal(%s): %v", b, err)
			}
			found := 0
			walk(doc, "$", func(path, s string) {
				if !looksLikeTime.MatchString(s) {
					return
				}
				found++
				if !contractTime.MatchString(s) || s != wantAt {
					t.Errorf("%s = %q, want RFC 3339 with milliseconds in UTC, %q", path, s, wantAt)
				}
			})
			if found != times {
				t.Errorf("%s holds %d times, its JSON %d timestamps: %s", typ, times, found, b)
			}
		})
	}
}

// TestPayloadsListsEveryTimedType: every type of this package that holds a time (a Time or a
// time.Time, directly or in a field's type) is in payloads.
func TestPayloadsListsEveryTimedType(t *testing.T) {
	listed := map[string]bool{}
	for _, p := range payloads {
		listed[reflect.TypeOf(p).Name()] = true
	}
	timed := timedTypes(t)
	if len(timed) == 0 || !slices.Contains(timed, "Binding") {
		t.Fatalf("found timed types %v: the package scan is broken", timed)
	}
	for _, name := range timed {
		if !listed[name] {
			t.Errorf("type %s holds a time but is not in payloads (timestamps_test.go)", name)
		}
	}
}

// timedTypes lists the package's exported types, other than Time, whose definition holds a
// time, read from the package's source.
func timedTypes(t *testing.T) []string {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi fs.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defs := map[string]ast.Expr{}
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			for _, d := range f.Decls {
				if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.TYPE {
					for _, s := range g.Specs {
						ts := s.(*ast.TypeSpec)
						defs[ts.Name.Name] = ts.Type
					}
				}
			}
		}
	}
	var hasTime func(e ast.Expr, seen map[string]bool) bool
	hasTime = func(e ast.Expr, seen map[string]bool) bool {
		switch e := e.(type) {
		case *ast.Ident:
			if e.Name == "Time" {
				return true
			}
			if def, ok := defs[e.Name]; ok && !seen[e.Name] {
				seen[e.Name] = true
				return hasTime(def, seen)
			}
		case *ast.SelectorExpr:
			return fmt.Sprint(e.X) == "time" && e.Sel.Name == "Time"
		case *ast.StarExpr:
			return hasTime(e.X, seen)
		case *ast.ArrayType:
			return hasTime(e.Elt, seen)
		case *ast.MapType:
			return hasTime(e.Key, seen) || hasTime(e.Value, seen)
		case *ast.StructType:
			for _, f := range e.Fields.List {
				if hasTime(f.Type, seen) {
					return true
				}
			}
		}
		return false
	}
	var out []string
	for name, def := range defs {
		if name != "Time" && ast.IsExported(name) && hasTime(def, map[string]bool{name: true}) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

var (
	wireTime = reflect.TypeOf(Time{})
	stdTime  = reflect.TypeOf(time.Time{})
	rawJSON  = reflect.TypeOf(json.RawMessage{})
)

// fill sets every exported field of v, recursively, to a non-zero value (filledAt for times)
// and returns how many times it set.
func fill(v reflect.Value) (times int) {
	switch v.Type() {
	case wireTime:
		v.Set(reflect.ValueOf(Time{Time: filledAt}))
		return 1
	case stdTime:
		v.Set(reflect.ValueOf(filledAt))
		return 1
	case rawJSON:
		v.Set(reflect.ValueOf(json.RawMessage(`{"k":1}`)))
		return 0
	}
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		return fill(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				times += fill(v.Field(i))
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			times += fill(v.Index(i))
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		times += fill(k) + fill(e)
		v.SetMapIndex(k, e)
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5)
	}
	return times
}

// walk calls f with every string in a decoded JSON document and its path ($.a[0].b).
func walk(doc any, path string, f func(path, s string)) {
	switch d := doc.(type) {
	case map[string]any:
		for k, v := range d {
			walk(v, path+"."+k, f)
		}
	case []any:
		for i, v := range d {
			walk(v, fmt.Sprintf("%s[%d]", path, i), f)
		}
	case string:
		f(path, d)
	}
}
