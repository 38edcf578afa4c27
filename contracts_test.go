package fitmirror_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/display"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// These tests read docs/contracts.md and compare what it says with the code, so a change on
// either side that the other does not follow fails here, naming both.

func readDoc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// contractSection returns §n of docs/contracts.md (from its heading to the next).
func contractSection(t *testing.T, n int) string {
	t.Helper()
	doc := readDoc(t, "docs/contracts.md")
	head := "\n## " + strconv.Itoa(n) + ". "
	i := strings.Index(doc, head)
	if i < 0 {
		t.Fatalf("docs/contracts.md has no section %q", strings.TrimSpace(head))
	}
	rest := doc[i+1:]
	if j := strings.Index(rest, "\n## "); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// tableAfter returns the cells of the Markdown table that follows the line containing intro,
// header and separator left out.
func tableAfter(t *testing.T, text, intro string) [][]string {
	t.Helper()
	i := strings.Index(text, intro)
	if i < 0 {
		t.Fatalf("docs/contracts.md: no %q", intro)
	}
	var rows [][]string
	started := false
	for _, line := range strings.Split(text[i:], "\n") {
		if !strings.HasPrefix(line, "|") {
			if started {
				break
			}
			continue
		}
		started = true
		line = strings.ReplaceAll(strings.Trim(line, "|"), `\|`, "\x00")
		var cells []string
		for _, c := range strings.Split(line, "|") {
			cells = append(cells, strings.TrimSpace(strings.ReplaceAll(c, "\x00", "|")))
		}
		rows = append(rows, cells)
	}
	if len(rows) < 2 {
		t.Fatalf("docs/contracts.md: no table after %q", intro)
	}
	return rows[2:]
}

var backticked = regexp.MustCompile("`([^`]+)`")

func ticks(s string) []string {
	var out []string
	for _, m := range backticked.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// goConst is a string constant of the module's non-test code.
type goConst struct {
	name, typ, value, at string
}

// stringConsts returns the string constants declared in the non-test files under dir (""
// for the whole module).
func stringConsts(t *testing.T, dir string) []goConst {
	t.Helper()
	var out []goConst
	fset := token.NewFileSet()
	for _, name := range goSources(t, false) {
		if dir != "" && filepath.Dir(name) != dir {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				typ := ""
				if id, ok := vs.Type.(*ast.Ident); ok {
					typ = id.Name
				}
				for i, n := range vs.Names {
					if i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					v, _ := strconv.Unquote(lit.Value)
					out = append(out, goConst{n.Name, typ, v, fset.Position(n.Pos()).String()})
				}
			}
		}
	}
	return out
}

// sameSet reports the differences between what the contract lists and what the code has.
func sameSet(t *testing.T, what string, doc, code []string, where map[string]string) {
	t.Helper()
	for _, d := range doc {
		if !slices.Contains(code, d) {
			t.Errorf("docs/contracts.md lists %s %q, which the code does not have", what, d)
		}
	}
	for _, c := range code {
		if !slices.Contains(doc, c) {
			t.Errorf("%s: %s %q is missing from docs/contracts.md", where[c], what, c)
		}
	}
}

func constsWhere(cs []goConst, keep func(goConst) bool) ([]string, map[string]string) {
	var vals []string
	where := map[string]string{}
	for _, c := range cs {
		if keep(c) {
			vals = append(vals, c.value)
			where[c.value] = c.at
		}
	}
	return vals, where
}

var eventConstName = regexp.MustCompile(`^[Ee]vent[A-Z]\w*$`)
var eventTypeValue = regexp.MustCompile(`^[a-z]+\.[a-z_]+$`)

// eventTable returns the event table of §1: type → its data cell.
func eventTable(t *testing.T) map[string]string {
	t.Helper()
	rows := tableAfter(t, contractSection(t, 1), "Event `type`s and their `data`")
	table := map[string]string{}
	for _, r := range rows {
		for _, typ := range ticks(r[0]) { // one row may list a family of event types
			if eventTypeValue.MatchString(typ) {
				table[typ] = r[1]
			}
		}
	}
	return table
}

// TestContractEventTypes: the event types of docs/contracts.md §1 are the event constants of
// the code (constants named Event… or event… whose value looks like "a.b"), and every event
// the code builds names its type by such a constant.
func TestContractEventTypes(t *testing.T) {
	consts := stringConsts(t, "")
	code, where := constsWhere(consts, func(c goConst) bool {
		return eventConstName.MatchString(c.name) && eventTypeValue.MatchString(c.value)
	})
	var doc []string
	for typ := range eventTable(t) {
		doc = append(doc, typ)
	}
	sameSet(t, "event type", doc, code, where)
	for _, c := range consts {
		if eventConstName.MatchString(c.name) && eventTypeValue.MatchString(c.value) && !strings.HasPrefix(c.at, filepath.Join("internal", "wire")+string(filepath.Separator)) {
			t.Errorf("%s: event type %s spelled outside internal/wire (use wire.%s)", c.at, c.value, "Event…")
		}
	}

	eventLiterals(t, func(at, typ string, lit *ast.CompositeLit) {
		if typ == "" {
			t.Errorf("%s: an event whose Type is not an Event… constant", at)
		}
	})
}

// eventLiterals calls fn for every session.Event literal of the module's non-test code with
// the event type it names ("" when its Type is not a known event constant).
func eventLiterals(t *testing.T, fn func(at, typ string, lit *ast.CompositeLit)) {
	t.Helper()
	byName := map[string]string{}
	for _, c := range stringConsts(t, "") {
		if eventConstName.MatchString(c.name) && eventTypeValue.MatchString(c.value) {
			byName[c.name] = c.value
		}
	}
	fset := token.NewFileSet()
	for _, name := range goSources(t, false) {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		inSession := f.Name.Name == "session"
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok || !isSessionEvent(lit.Type, inSession) {
				return true
			}
			typ := ""
			for _, el := range lit.Elts {
				kv, ok := el.(*ast.KeyValueExpr)
				if !ok || !isIdent(kv.Key, "Type") {
					continue
				}
				switch v := kv.Value.(type) {
				case *ast.Ident:
					typ = byName[v.Name]
				case *ast.SelectorExpr:
					typ = byName[v.Sel.Name]
				}
			}
			fn(fset.Position(lit.Pos()).String(), typ, lit)
			return true
		})
	}
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

func isSessionEvent(e ast.Expr, inSession bool) bool {
	if sel, ok := e.(*ast.SelectorExpr); ok {
		return isIdent(sel.X, "session") && sel.Sel.Name == "Event"
	}
	return inSession && isIdent(e, "Event")
}

// TestContractEventData: the data of each event type is the internal/wire struct named after
// it (EventSessionClosed: wire.SessionClosed), or, where there is none, after its family (the
// update.* events share wire.Update), its JSON fields exactly the keys its row of
// the event table in docs/contracts.md names (the backticked words before any colon; a type
// without a struct has none), and every event the code builds carries that struct.
func TestContractEventData(t *testing.T) {
	table := eventTable(t)
	tags := structTags(t)
	nameOf := map[string]string{} // event type → its data struct's name
	for _, c := range stringConsts(t, filepath.Join("internal", "wire")) {
		if eventConstName.MatchString(c.name) && eventTypeValue.MatchString(c.value) {
			nameOf[c.value] = strings.TrimPrefix(c.name, "Event")
			if _, ok := tags["internal/wire."+nameOf[c.value]]; !ok {
				family, _, _ := strings.Cut(c.value, ".")
				if _, ok := tags["internal/wire."+strings.ToUpper(family[:1])+family[1:]]; ok {
					nameOf[c.value] = strings.ToUpper(family[:1]) + family[1:]
				}
			}
		}
	}
	for typ, cell := range table {
		fields := tags["internal/wire."+nameOf[typ]]
		doc := dataKeys(cell)
		for _, k := range doc {
			if !slices.Contains(fields, k) {
				t.Errorf("docs/contracts.md lists data %q for %s, which wire.%s does not have (%v)", k, typ, nameOf[typ], fields)
			}
		}
		for _, f := range fields {
			if !slices.Contains(doc, f) {
				t.Errorf("wire.%s has the field %q, which docs/contracts.md does not list for %s", nameOf[typ], f, typ)
			}
		}
	}
	eventLiterals(t, func(at, typ string, lit *ast.CompositeLit) {
		for _, el := range lit.Elts {
			kv, ok := el.(*ast.KeyValueExpr)
			if !ok || !isIdent(kv.Key, "Data") {
				continue
			}
			data, ok := kv.Value.(*ast.CompositeLit)
			if !ok {
				continue // built elsewhere
			}
			if sel, ok := data.Type.(*ast.SelectorExpr); !ok || !isIdent(sel.X, "wire") || sel.Sel.Name != nameOf[typ] {
				t.Errorf("%s: a %s event whose data is not a wire.%s", at, typ, nameOf[typ])
			}
		}
	})
}

// dataKeys are the data keys of an event table cell: the backticked words that start it,
// each clause up to its first colon, what parentheses explain left out ("`reason`: `unbound`,
// …" is one key).
func dataKeys(cell string) []string {
	cell = withoutParens(strings.ReplaceAll(cell, "*(ext)*", ""))
	var keys []string
	for _, part := range strings.FieldsFunc(cell, func(r rune) bool { return r == ',' || r == ';' }) {
		part = strings.TrimSpace(part)
		if !strings.HasPrefix(part, "`") {
			continue
		}
		k := ticks(part)[0]
		if rest := strings.TrimSpace(strings.TrimPrefix(part, "`"+k+"`")); rest == "" || rest[0] == ':' {
			keys = append(keys, k)
		}
		if strings.Contains(part, ":") {
			break // what follows explains the key
		}
	}
	return keys
}

// withoutParens returns text without what parentheses enclose (nested ones too).
func withoutParens(text string) string {
	var b strings.Builder
	depth := 0
	for _, r := range text {
		switch {
		case r == '(':
			depth++
		case r == ')':
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// reasonLiterals returns the string literals the module's non-test code passes to the named
// functions or sets as the Reason of the named wire struct, with where they are.
func reasonLiterals(t *testing.T, funcs []string, dataType string) map[string]string {
	t.Helper()
	out := map[string]string{}
	fset := token.NewFileSet()
	add := func(e ast.Expr) {
		if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			v, _ := strconv.Unquote(lit.Value)
			out[v] = fset.Position(lit.Pos()).String()
		}
	}
	for _, name := range goSources(t, false) {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.CallExpr:
				fn := ""
				switch f := x.Fun.(type) {
				case *ast.Ident:
					fn = f.Name
				case *ast.SelectorExpr:
					fn = f.Sel.Name
				}
				if slices.Contains(funcs, fn) {
					for _, a := range x.Args {
						add(a)
					}
				}
			case *ast.CompositeLit:
				if sel, ok := x.Type.(*ast.SelectorExpr); ok && isIdent(sel.X, "wire") && sel.Sel.Name == dataType {
					for _, el := range x.Elts {
						if kv, ok := el.(*ast.KeyValueExpr); ok && isIdent(kv.Key, "Reason") {
							add(kv.Value)
						}
					}
				}
			}
			return true
		})
	}
	return out
}

// TestContractPurgeReasons: the reasons docs/contracts.md gives for photo.purged are
// internal/wire's Purge… constants, and no code purges with a reason the contract lacks.
func TestContractPurgeReasons(t *testing.T) {
	cell := eventTable(t)["photo.purged"]
	_, list, ok := strings.Cut(cell, "`reason`:")
	if !ok {
		t.Fatalf("docs/contracts.md: the photo.purged row %q lists no reasons (`reason`: …)", cell)
	}
	doc := ticks(withoutParens(list))
	code, where := constsWhere(stringConsts(t, filepath.Join("internal", "wire")), func(c goConst) bool {
		return strings.HasPrefix(c.name, "Purge")
	})
	sameSet(t, "photo.purged reason", doc, code, where)
	for v, at := range reasonLiterals(t, []string{"purge", "PurgeAll"}, "PhotoPurged") {
		if !slices.Contains(doc, v) {
			t.Errorf("%s: photo.purged reason %q, which docs/contracts.md does not list", at, v)
		}
	}
}

// TestContractSessionCloseReasons: the reasons docs/contracts.md gives for session.closed are
// the ones the code closes sessions with (closeSession, EndSession, wire.SessionClosed).
func TestContractSessionCloseReasons(t *testing.T) {
	cell := eventTable(t)["session.closed"]
	_, after, ok := strings.Cut(cell, "`reason` (")
	if !ok {
		t.Fatalf("docs/contracts.md: the session.closed row %q lists no reasons (`reason` (…))", cell)
	}
	var doc []string
	for _, w := range ticks(after) {
		if w == "duration_ms" {
			break // the explanation of restart
		}
		doc = append(doc, w)
	}
	lits := reasonLiterals(t, []string{"closeSession", "EndSession"}, "SessionClosed")
	code := sortedKeys(lits)
	sameSet(t, "session.closed reason", doc, code, lits)
}

// topicTypes are the wire types of the topics in the table of docs/contracts.md §1.
var topicTypes = map[string]reflect.Type{
	"mirror/{id}/status":            reflect.TypeFor[wire.Status](),
	"mirror/{id}/telemetry":         reflect.TypeFor[wire.Telemetry](),
	"mirror/{id}/events":            reflect.TypeFor[wire.Event](),
	"mirror/{id}/cmd/{name}":        reflect.TypeFor[wire.CommandRequest](),
	"mirror/{id}/cmd/{name}/result": reflect.TypeFor[wire.CommandResult](),
	"mirror/{id}/config/desired":    reflect.TypeFor[wire.Desired](),
	"mirror/{id}/config/reported":   reflect.TypeFor[wire.Reported](),
	"mirror/{id}/binding":           reflect.TypeFor[wire.Binding](),
}

// jsonNames returns the JSON field names of t and of the structs it holds, at any depth.
func jsonNames(t reflect.Type, into map[string]bool) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || !strings.HasPrefix(t.PkgPath(), module+"/") {
		return
	}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			into[name] = true
		}
		jsonNames(f.Type, into)
	}
}

var jsonKey = regexp.MustCompile(`"([a-z0-9_]+)":`)

// TestContractTopicPayloads: every topic of the table in docs/contracts.md §1 is a wire.Topics
// method, and its payload column names exactly the JSON fields of the wire type: each
// "key": of the column is a field, and each field appears in it (as "key": or `key`).
func TestContractTopicPayloads(t *testing.T) {
	rows := tableAfter(t, contractSection(t, 1), "| topic | dir | QoS | retained | payload |")
	topics := wire.Topics{Prefix: "mirror", Device: "{id}"}
	methods := map[string]string{
		topics.Status(): "", topics.Telemetry(): "", topics.Events(): "", topics.Command("{name}"): "",
		topics.Result("{name}"): "", topics.Desired(): "", topics.Reported(): "", topics.Binding(): "",
	}
	seen := map[string]bool{}
	for _, r := range rows {
		topic := ticks(r[0])[0]
		seen[topic] = true
		if _, ok := methods[topic]; !ok {
			t.Errorf("docs/contracts.md §1 has topic %s, which wire.Topics does not make", topic)
		}
		typ, ok := topicTypes[topic]
		if !ok {
			t.Errorf("docs/contracts.md §1 has topic %s: add its wire type to topicTypes", topic)
			continue
		}
		fields := map[string]bool{}
		jsonNames(typ, fields)
		named := map[string]bool{}
		for _, m := range jsonKey.FindAllStringSubmatch(r[4], -1) {
			named[m[1]] = true
			if !fields[m[1]] {
				t.Errorf("docs/contracts.md §1 %s: %q is not a field of %s", topic, m[1], typ)
			}
		}
		for k := range namedKeys(r[4]) {
			named[k] = true
		}
		for f := range fields {
			if !named[f] {
				t.Errorf("docs/contracts.md §1 %s does not mention %s's field %q", topic, typ, f)
			}
		}
	}
	for topic := range methods {
		if !seen[topic] {
			t.Errorf("wire.Topics makes %s, which the table of docs/contracts.md §1 lacks", topic)
		}
	}
}

// alternatives returns the values "a"|"b"|"c" the contract gives for "key": in text.
func alternatives(t *testing.T, text, key string) []string {
	t.Helper()
	m := regexp.MustCompile(`"` + key + `":("[a-z_]+"(?:\s*\\?\|\s*"[a-z_]+")*)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("docs/contracts.md: no \"%s\":\"a\"|\"b\" in the text", key)
	}
	var out []string
	for _, v := range strings.Split(strings.ReplaceAll(m[1], `\|`, "|"), "|") {
		out = append(out, strings.Trim(strings.TrimSpace(v), `"`))
	}
	return out
}

// TestContractValues: the values the contract enumerates are the code's constants: the
// mirror's states (wire), the camera health in telemetry (device/camera), the scenes and
// message codes of the kiosk's Screen (display), the error codes of command results (wire),
// and the Last Will.
func TestContractValues(t *testing.T) {
	s1, s3 := contractSection(t, 1), contractSection(t, 3)
	wireConsts := stringConsts(t, filepath.Join("internal", "wire"))
	displayConsts := stringConsts(t, "display")

	states, where := constsWhere(wireConsts, func(c goConst) bool { return strings.HasPrefix(c.name, "State") })
	sameSet(t, "mirror state", alternatives(t, s1, "state"), states, where)

	// The camera's health part: starting until the first frame, then the camera's own status.
	camera, where := constsWhere(stringConsts(t, filepath.Join("device", "camera")), func(c goConst) bool { return c.typ == "Status" })
	camera, where["starting"] = append(camera, wire.HealthStarting), "internal/wire (HealthStarting)"
	sameSet(t, "telemetry camera value", alternatives(t, s1, "camera"), camera, where)

	scenes, where := constsWhere(displayConsts, func(c goConst) bool { return strings.HasPrefix(c.name, "Scene") })
	sameSet(t, "scene", alternatives(t, s3, "scene"), scenes, where)

	msgs, where := constsWhere(displayConsts, func(c goConst) bool { return strings.HasPrefix(c.name, "Msg") })
	_, after, _ := strings.Cut(s3, "the message's\n  code (")
	docMsgs := ticks(strings.SplitN(after, ")", 2)[0])
	sameSet(t, "message code", docMsgs, msgs, where)

	// Error codes: every code the contract gives a result in §1 is a wire constant, and every
	// wire code appears in the contract.
	codes, where := constsWhere(wireConsts, func(c goConst) bool { return strings.HasPrefix(c.name, "Code") })
	for _, m := range regexp.MustCompile(`"?code"?:"([a-z_]+)"`).FindAllStringSubmatch(s1, -1) {
		if !slices.Contains(codes, m[1]) {
			t.Errorf("docs/contracts.md §1 gives error code %q, which internal/wire does not define", m[1])
		}
	}
	doc := readDoc(t, "docs/contracts.md")
	for _, c := range codes {
		if !strings.Contains(doc, "`"+c+"`") && !strings.Contains(doc, `"`+c+`"`) {
			t.Errorf("%s: error code %q is missing from docs/contracts.md", where[c], c)
		}
	}

	doc = strings.Join(strings.Fields(doc), " ") // a rule may wrap
	for _, rule := range []struct{ name, value string }{
		{"wire.DeviceIDRule", wire.DeviceIDRule}, {"wire.PhotoIDRule", wire.PhotoIDRule},
		{"wire.TimeFormat", time.Date(2026, 11, 20, 10, 0, 0, 123e6, time.UTC).Format(wire.TimeFormat)},
	} {
		if !strings.Contains(doc, rule.value+"`, `"+rule.name+"`") && !strings.Contains(doc, rule.value+"` (`"+rule.name+"`)") &&
			!strings.Contains(doc, rule.value+"\"`, `"+rule.name+"`") {
			t.Errorf("docs/contracts.md does not give %s as %s", rule.name, rule.value)
		}
	}
	if !strings.Contains(s1, "(prefix `"+wire.DefaultTopicPrefix+"`, configurable)") {
		t.Errorf("docs/contracts.md §1 does not give the topic prefix as %s (wire.DefaultTopicPrefix)", wire.DefaultTopicPrefix)
	}
	if !strings.Contains(s1, "the Last Will is `"+wire.WillPayload+"`") {
		t.Errorf("docs/contracts.md §1 does not give the Last Will as wire.WillPayload: %s", wire.WillPayload)
	}
}

// TestContractTelemetryInterval: the telemetry period's default in docs/contracts.md §1 is the
// agent's (docs/config.md, generated from the code and checked by the agent's tests).
func TestContractTelemetryInterval(t *testing.T) {
	m := regexp.MustCompile("every `telemetry_interval` \\(default (\\d+) s\\)").FindStringSubmatch(contractSection(t, 1))
	if m == nil {
		t.Fatal("docs/contracts.md §1: no \"every `telemetry_interval` (default N s)\"")
	}
	if row := "| `telemetry_interval` | duration | `" + m[1] + "s` |"; !strings.Contains(readDoc(t, "docs/config.md"), row) {
		t.Errorf("docs/contracts.md §1 gives telemetry_interval's default as %s s, docs/config.md does not (%s)", m[1], row)
	}
}

// TestContractConfigKeys: the configuration keys §5 of docs/contracts.md names are keys of
// the programs' generated key tables (docs/config.md for the agent, docs/hub.md for the hub;
// the programs' own tests keep those tables in step with the code).
func TestContractConfigKeys(t *testing.T) {
	s5 := contractSection(t, 5)
	i := strings.Index(s5, "Keys used by other tools (dotted):")
	if i < 0 {
		t.Fatal("docs/contracts.md §5: no \"Keys used by other tools (dotted):\"")
	}
	text := s5[i:]
	text = text[:strings.Index(text, "Every key has")]
	agent, hub, ok := strings.Cut(text, "hub:")
	if !ok {
		t.Fatal("docs/contracts.md §5: the key list has no \"hub:\" part")
	}
	for _, side := range []struct{ text, table string }{{agent, "docs/config.md"}, {hub, "docs/hub.md"}} {
		table := readDoc(t, side.table)
		for _, key := range configKeys(side.text) {
			if !strings.Contains(table, "| `"+key+"` |") {
				t.Errorf("docs/contracts.md §5 names key %s, which %s's key table does not have", key, side.table)
			}
		}
	}
}

// configKeys returns the backticked keys of a §5 key list, leaving out what parentheses
// explain, with a.{b,c} expanded.
func configKeys(text string) []string {
	var keys []string
	for _, k := range ticks(withoutParens(text)) {
		if pre, list, ok := strings.Cut(k, "{"); ok {
			for _, s := range strings.Split(strings.TrimSuffix(list, "}"), ",") {
				keys = append(keys, pre+s)
			}
			continue
		}
		keys = append(keys, k)
	}
	return keys
}

// structTags returns the JSON names of the fields of every struct type declared in the
// module's non-test code, keyed by "dir.Type" (the AST's view: no import needed, so the
// root package's tests link no cgo).
func structTags(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	fset := token.NewFileSet()
	for _, name := range goSources(t, false) {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return true
			}
			key := filepath.ToSlash(filepath.Dir(name)) + "." + ts.Name.Name
			out[key] = []string{}
			for _, fld := range st.Fields.List {
				if fld.Tag == nil {
					continue
				}
				tag, _ := strconv.Unquote(fld.Tag.Value)
				if j, _, _ := strings.Cut(reflect.StructTag(tag).Get("json"), ","); j != "" && j != "-" {
					out[key] = append(out[key], j)
				}
			}
			return true
		})
	}
	return out
}

// namedKeys returns the JSON keys a piece of the contract names: "key": and "key" (a list
// of names such as {"status","engine"}) and backticked words, with a.b read as b.
func namedKeys(text string) map[string]bool {
	named := map[string]bool{}
	for _, m := range regexp.MustCompile(`"([a-z0-9_]+)"\s*[:,}]`).FindAllStringSubmatch(text, -1) {
		named[m[1]] = true
	}
	for _, w := range ticks(text) {
		named[w] = true
		if _, last, ok := strings.Cut(w, "."); ok {
			named[last] = true
		}
	}
	return named
}

// checkFields checks that text names every JSON field of fields and no key that is neither a
// field nor one of mapKeys (the keys of a map field).
func checkFields(t *testing.T, what string, text string, fields []string, mapKeys ...string) {
	t.Helper()
	named := namedKeys(text)
	for _, m := range jsonKey.FindAllStringSubmatch(text, -1) {
		if !slices.Contains(fields, m[1]) && !slices.Contains(mapKeys, m[1]) {
			t.Errorf("docs/contracts.md %s: %q is not a field the code writes (%v)", what, m[1], fields)
		}
	}
	for _, f := range fields {
		if !named[f] {
			t.Errorf("docs/contracts.md %s does not mention the field %q the code writes", what, f)
		}
	}
}

// bullet returns the list item of text that starts with prefix, up to the next item.
func bullet(t *testing.T, text, prefix string) string {
	t.Helper()
	i := strings.Index(text, "\n- "+prefix)
	if i < 0 {
		t.Fatalf("docs/contracts.md: no list item starting %q", prefix)
	}
	rest := text[i+3:]
	if j := strings.Index(rest, "\n- "); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// TestContractAgentHTTP: the kiosk's Screen JSON of docs/contracts.md §3 is display.Screen's
// (every field named, no other), its air buttons' feedback display.Gestures', /healthz names the fields of wire.Health, and the default
// listen address is display.listen's.
func TestContractAgentHTTP(t *testing.T) {
	s3 := contractSection(t, 3)
	fields := map[string]bool{}
	jsonNames(reflect.TypeFor[display.Screen](), fields)
	checkFields(t, "§3 GET /events", bullet(t, s3, "`GET /` kiosk page"), sortedKeys(fields))
	gestures := map[string]bool{}
	jsonNames(reflect.TypeFor[display.Gestures](), gestures)
	checkFields(t, "§3 GET /events, event: gesture", bullet(t, s3, "*(ext)* `GET /events`, `event: gesture`"), sortedKeys(gestures))

	health := map[string]bool{}
	jsonNames(reflect.TypeFor[wire.Health](), health)
	// The parts of /healthz (the keys of "parts") are internal/wire's Part… constants.
	healthz := bullet(t, s3, "`GET /healthz`")
	parts, where := constsWhere(stringConsts(t, filepath.Join("internal", "wire")), func(c goConst) bool { return strings.HasPrefix(c.name, "Part") })
	checkFields(t, "§3 /healthz", healthz, sortedKeys(health), parts...)
	_, list, ok := strings.Cut(strings.Join(strings.Fields(healthz), " "), "The parts are ")
	if !ok {
		t.Fatal("docs/contracts.md §3 /healthz: no \"The parts are …\"")
	}
	list, _, _ = strings.Cut(withoutParens(list), ".")
	sameSet(t, "health part", ticks(list), parts, where)

	m := regexp.MustCompile("\\(default `([^`]+)`\\)").FindStringSubmatch(strings.SplitN(s3, "\n", 2)[0])
	if m == nil {
		t.Fatal("docs/contracts.md §3: the heading gives no (default `address`)")
	}
	if row := "| `display.listen` | string | `" + m[1] + "` |"; !strings.Contains(readDoc(t, "docs/config.md"), row) {
		t.Errorf("docs/contracts.md §3 gives the default address %s, which is not display.listen's default in docs/config.md", m[1])
	}
}

// TestContractReplay: the lines of replay output in docs/contracts.md §4 have the fields of
// device/vision's ReplayEvent and ReplaySummary, every field named.
func TestContractReplay(t *testing.T) {
	s4 := contractSection(t, 4)
	tags := structTags(t)
	event, summary := tags["device/vision.ReplayEvent"], tags["device/vision.ReplaySummary"]
	if event == nil || summary == nil {
		t.Fatal("device/vision has no ReplayEvent or ReplaySummary struct")
	}
	lines, _, _ := strings.Cut(s4, "At end of input")
	checkFields(t, "§4 event lines", lines, event)
	_, sum, _ := strings.Cut(s4, "Finally ")
	sum, _, _ = strings.Cut(sum, "`t_ms` is")
	checkFields(t, "§4 summary", sum, summary)
}

// TestContractServiceAccounts: the service accounts docs/contracts.md §1 names are the
// broker package's, each has its section in the shipped ACL, and no device ID can take one.
func TestContractServiceAccounts(t *testing.T) {
	s1 := strings.Join(strings.Fields(contractSection(t, 1)), " ")
	_, after, ok := strings.Cut(s1, "It also has the service accounts ")
	if !ok {
		t.Fatal("docs/contracts.md §1: no \"It also has the service accounts …\"")
	}
	sentence, _, _ := strings.Cut(after, "(")
	doc := ticks(sentence)
	code, where := constsWhere(stringConsts(t, filepath.Join("cloud", "fleet", "broker")), func(c goConst) bool {
		return strings.HasSuffix(c.name, "User")
	})
	sameSet(t, "service account", doc, code, where)
	acl := readDoc(t, filepath.Join("cloud", "fleet", "broker", "acl"))
	for _, user := range code {
		if !strings.Contains(acl, "\nuser "+user+"\n") {
			t.Errorf("cloud/fleet/broker/acl has no section for the service account %s", user)
		}
		if wire.ValidDeviceID(user) {
			t.Errorf("%s is a valid device ID: a device could take the service account's name", user)
		}
	}
}
