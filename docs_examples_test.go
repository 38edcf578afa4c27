package fitmirror

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The programs whose command lines the docs show.
var docPrograms = []string{"mirror-agent", "mirror-cloud", "mirrorctl"}

// TestDocsCommandLines reads every command line the docs show — a line of a code block, or an
// inline code span, that starts with mirror-agent, mirror-cloud or mirrorctl — and checks it
// against the programs themselves: the command exists (its manual page, generated from the flag
// definitions the command parses, has it), every flag given is one that command or the program
// accepts, `mirrorctl cmd`'s command is one a mirror answers (internal/wire), and every
// configuration key given to `mirrorctl config` or `--set` is a key of that program's table
// (docs/config.md, docs/hub.md); a command's JSON arguments parse. An example a reader copies must not fail on its spelling.
func TestDocsCommandLines(t *testing.T) {
	pages := map[string]manPage{}
	for _, p := range docPrograms {
		pages[p] = readManPage(t, filepath.Join("docs", "man", p+".1"))
	}
	agentKeys, hubKeys := keyTable(t, "docs/config.md"), keyTable(t, "docs/hub.md")
	commands := mirrorCommands(t)
	checked := 0
	for _, ex := range docExamples(t) {
		checked++
		if err := checkExample(ex.line, pages, commands, agentKeys, hubKeys); err != nil {
			t.Errorf("%s:%d: %s\n\t%s", ex.file, ex.lineNo, err, ex.line)
		}
	}
	if checked < 40 {
		t.Fatalf("found only %d command lines in the docs; the extractor is broken", checked)
	}
}

// TestDocsConfigBlocks loads the configuration blocks of the docs (YAML code blocks whose
// top-level keys are configuration sections) and checks that every key they set is a key of
// mirror-agent's or mirror-cloud's table.
func TestDocsConfigBlocks(t *testing.T) {
	keys := keyTable(t, "docs/config.md")
	for k := range keyTable(t, "docs/hub.md") {
		keys[k] = true
	}
	sections := map[string]bool{}
	for k := range keys {
		sections[strings.SplitN(k, ".", 2)[0]] = true
	}
	blocks := 0
	for _, b := range docYAMLBlocks(t) {
		var doc map[string]any
		if err := yaml.Unmarshal([]byte(b.text), &doc); err != nil {
			t.Errorf("%s:%d: a YAML block does not parse: %v", b.file, b.lineNo, err)
			continue
		}
		if !isConfigBlock(doc, sections) {
			continue
		}
		blocks++
		for _, k := range leafKeys("", doc) {
			if !knownKey(k, keys) {
				t.Errorf("%s:%d: the configuration block sets %q, which is no key of mirror-agent or mirror-cloud", b.file, b.lineNo, k)
			}
		}
	}
	if blocks < 5 {
		t.Fatalf("found only %d configuration blocks in the docs; the extractor is broken", blocks)
	}
}

type docExample struct {
	file   string
	lineNo int
	line   string
}

var inlineCode = regexp.MustCompile("`([^`]+)`")

// docFiles are README.md and every Markdown file under docs/.
func docFiles(t *testing.T) []string {
	files := []string{"README.md"}
	err := filepath.WalkDir("docs", func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".md") {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files
}

// docExamples are the command lines of the docs: in code blocks (after a "$ " or "sudo "), and
// inline code spans.
func docExamples(t *testing.T) []docExample {
	var out []docExample
	for _, f := range docFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fence := false
		for i, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "```") {
				fence = !fence
				continue
			}
			if fence {
				if c := commandLine(l); c != "" {
					out = append(out, docExample{f, i + 1, c})
				}
				continue
			}
			for _, m := range inlineCode.FindAllStringSubmatch(l, -1) {
				if c := commandLine(m[1]); c != "" {
					out = append(out, docExample{f, i + 1, c})
				}
			}
		}
	}
	return out
}

// commandLine returns s as a command line if it is one of a program's, else "".
func commandLine(s string) string {
	s = strings.TrimSpace(s)
	for _, p := range []string{"$ ", "sudo ", "# "} {
		s = strings.TrimPrefix(s, p)
	}
	for _, p := range docPrograms {
		if s == p || strings.HasPrefix(s, p+" ") {
			if f := strings.Fields(s); len(f) > 1 && slices.Contains(docPrograms, f[1]) {
				return "" // a diagram's boxes, side by side
			}
			return s
		}
	}
	return ""
}

// checkExample checks one command line; see TestDocsCommandLines.
func checkExample(line string, pages map[string]manPage, commands, agentKeys, hubKeys map[string]bool) error {
	words := shellWords(line)
	prog := words[0]
	page := pages[prog]
	args := words[1:]
	sec, at := page.command(args)
	if sec == nil {
		if i := page.firstWord(args); i >= 0 && !placeholder(args[i]) && !(prog == "mirror-agent" && i > 0) {
			return fmt.Errorf("%s has no command %q (docs/man/%s.1)", prog, args[i], prog)
		}
		sec = page.defaultSection(prog)
	}
	for i, a := range args {
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			continue
		}
		name := strings.TrimLeft(strings.SplitN(a, "=", 2)[0], "-")
		if !sec.flags[name] && !page.global[name] && !universalFlag[name] {
			return fmt.Errorf("%s %s does not take the flag %s", prog, sec.title, a)
		}
		if name == "set" && i+1 < len(args) {
			if err := checkKeyValue(args[i+1], prog, agentKeys, hubKeys); err != nil {
				return err
			}
		}
	}
	var operands []string
	if at >= 0 {
		operands = nonFlags(args[at+len(strings.Fields(sec.title)):])
	}
	switch {
	case prog == "mirrorctl" && sec.title == "cmd" && len(operands) >= 2 && !placeholder(operands[1]):
		if !commands[operands[1]] {
			return fmt.Errorf("no mirror answers the command %q (internal/wire/commands.go)", operands[1])
		}
		if len(operands) > 2 && strings.HasSuffix(operands[2], "}") && !json.Valid([]byte(operands[2])) {
			return fmt.Errorf("the arguments of %s are not JSON: %s", operands[1], operands[2])
		}
	case prog == "mirrorctl" && sec.title == "config":
		for _, kv := range operands[min(1, len(operands)):] {
			if err := checkKeyValue(kv, "mirror-agent", agentKeys, hubKeys); err != nil {
				return err
			}
		}
	}
	return nil
}

// universalFlag are the flags every command answers.
var universalFlag = map[string]bool{"h": true, "help": true, "version": true}

// checkKeyValue checks that kv ("key=value") names a key of prog's configuration.
func checkKeyValue(kv, prog string, agentKeys, hubKeys map[string]bool) error {
	k, _, ok := strings.Cut(kv, "=")
	if !ok || placeholder(k) || k == "k" {
		return nil
	}
	keys, table := agentKeys, "docs/config.md"
	if prog == "mirror-cloud" {
		keys, table = hubKeys, "docs/hub.md"
	}
	if !knownKey(k, keys) {
		return fmt.Errorf("%q is no configuration key of %s (%s)", k, prog, table)
	}
	return nil
}

// placeholder reports whether w stands for a value the reader fills in (ID, NAME, key).
func placeholder(w string) bool {
	return w == strings.ToUpper(w) || w == "key" || strings.ContainsAny(w, "…<")
}

// firstWord is the index of args' first word that is neither a flag nor a flag's value.
func (p manPage) firstWord(args []string) int {
	for i := 0; i < len(args); i++ {
		if a := args[i]; !strings.HasPrefix(a, "-") {
			return i
		} else if p.value[strings.TrimLeft(a, "-")] {
			i++
		}
	}
	return -1
}

func nonFlags(args []string) []string {
	var out []string
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			out = append(out, a)
		}
	}
	return out
}

// shellWords splits a command line as a shell would, well enough for the docs: quotes, and
// the end of the command at a pipe, a comment, a redirection or an arrow of a diagram. Square
// brackets and ellipses of a usage line are dropped.
func shellWords(s string) []string {
	var words []string
	var w strings.Builder
	in, quote := false, rune(0)
	flush := func() {
		if in {
			words = append(words, w.String())
		}
		w.Reset()
		in = false
	}
loop:
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				w.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t':
			flush()
		case r == '|' || r == '#' || r == '>' || r == '&' || r == ';' || r > 0x2000 && r < 0x2c00:
			break loop
		case r == '[' || r == ']':
		default:
			w.WriteRune(r)
			in = true
		}
	}
	flush()
	out := words[:0]
	for _, w := range words {
		if w = strings.TrimRight(w, "."); w != "" {
			out = append(out, w)
		}
	}
	return out
}

// manPage is what a program's manual page says of its commands.
type manPage struct {
	sections []*manSection
	global   map[string]bool // the flags every command of the program takes
	value    map[string]bool // the flags that take a value (of any command)
}

type manSection struct {
	title string // "events", "operator add"
	flags map[string]bool
}

// manFlag is a flag's line in a command's help, as flag.PrintDefaults writes it: "  -name"
// for a boolean, "  -name type" for a flag that takes a value.
var manFlag = regexp.MustCompile(`^\s+-([a-z][a-z0-9-]*)(?: (\S+))?(?:\t.*)?$`)

// readManPage reads the commands (.SS) of a generated manual page and the flags each names.
func readManPage(t *testing.T, path string) manPage {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), `\-`, "-")
	p := manPage{value: map[string]bool{}}
	var cur *manSection
	prog := strings.TrimSuffix(filepath.Base(path), ".1")
	for _, l := range strings.Split(text, "\n") {
		if title, ok := strings.CutPrefix(l, ".SS "); ok {
			cur = &manSection{title: strings.TrimSpace(strings.TrimPrefix(title, prog)), flags: map[string]bool{}}
			p.sections = append(p.sections, cur)
			continue
		}
		if strings.HasPrefix(l, ".SH") {
			cur = nil
		}
		if cur != nil {
			if m := manFlag.FindStringSubmatch(l); m != nil {
				cur.flags[m[1]] = true
				if m[2] != "" {
					p.value[m[1]] = true
				}
			}
		}
	}
	p.global = map[string]bool{}
	for _, s := range p.sections {
		if s.title == "flags" || s.title == "" {
			p.global = s.flags
		}
	}
	if len(p.sections) < 3 {
		t.Fatalf("%s: found %d commands", path, len(p.sections))
	}
	return p
}

// command finds the command args name: the longest title whose words follow one another in
// args, starting at its first word that is not a flag's; and where it starts.
func (p manPage) command(args []string) (*manSection, int) {
	var best *manSection
	at := -1
	for i := 0; i < len(args); i++ {
		if a := args[i]; strings.HasPrefix(a, "-") {
			if p.value[strings.TrimLeft(a, "-")] {
				i++ // its value
			}
			continue
		}
		for _, s := range p.sections {
			tw := strings.Fields(s.title)
			if len(tw) == 0 || s.title == "flags" || i+len(tw) > len(args) {
				continue
			}
			if strings.Join(args[i:i+len(tw)], " ") == s.title && (best == nil || len(tw) > len(strings.Fields(best.title))) {
				best, at = s, i
			}
		}
		break // the command is the first word that is not a flag (or a flag's value)
	}
	return best, at
}

// defaultSection is the command a program runs when given none (mirror-agent: run).
func (p manPage) defaultSection(prog string) *manSection {
	for _, s := range p.sections {
		if prog == "mirror-agent" && s.title == "run" {
			return s
		}
	}
	return &manSection{title: "", flags: p.global}
}

// keyTable reads a key table (| `key` | type | …) from a doc.
func keyTable(t *testing.T, path string) map[string]bool {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z0-9_.]+)` \\|").FindAllStringSubmatch(string(b), -1) {
		keys[m[1]] = true
	}
	if len(keys) < 20 {
		t.Fatalf("%s: found only %d keys", path, len(keys))
	}
	return keys
}

// knownKey reports whether k is a key, or lies under one (a map-valued key such as lights).
func knownKey(k string, keys map[string]bool) bool {
	for p := k; ; {
		if keys[p] {
			return true
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			return false
		}
		p = p[:i]
	}
}

// mirrorCommands are the command names of internal/wire/commands.go (the Cmd… constants).
func mirrorCommands(t *testing.T) map[string]bool {
	f, err := parser.ParseFile(token.NewFileSet(), "internal/wire/commands.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	cmds := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if v, ok := n.(*ast.ValueSpec); ok && len(v.Values) == 1 && strings.HasPrefix(v.Names[0].Name, "Cmd") {
			if lit, ok := v.Values[0].(*ast.BasicLit); ok {
				s, _ := strconv.Unquote(lit.Value)
				cmds[s] = true
			}
		}
		return true
	})
	if !cmds["ping"] {
		t.Fatal("internal/wire/commands.go: no CmdPing")
	}
	return cmds
}

type docBlock struct {
	file   string
	lineNo int
	text   string
}

// docYAMLBlocks are the ```yaml code blocks of the docs.
func docYAMLBlocks(t *testing.T) []docBlock {
	var out []docBlock
	for _, f := range docFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cur *docBlock
		for i, l := range strings.Split(string(b), "\n") {
			s := strings.TrimSpace(l)
			switch {
			case cur == nil && (s == "```yaml" || s == "```yml"):
				cur = &docBlock{file: f, lineNo: i + 1}
			case cur != nil && s == "```":
				out = append(out, *cur)
				cur = nil
			case cur != nil:
				cur.text += l + "\n"
			}
		}
	}
	return out
}

// isConfigBlock reports whether every top-level key of doc is a configuration section.
func isConfigBlock(doc map[string]any, sections map[string]bool) bool {
	for k := range doc {
		if !sections[k] {
			return false
		}
	}
	return len(doc) > 0
}

// leafKeys are the dotted paths of doc's values that are not maps.
func leafKeys(prefix string, doc map[string]any) []string {
	var out []string
	for k, v := range doc {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		if m, ok := v.(map[string]any); ok && len(m) > 0 {
			out = append(out, leafKeys(p, m)...)
		} else {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}
