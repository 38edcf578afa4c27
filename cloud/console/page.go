package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
)

//go:embed assets
var assets embed.FS

// staticFS serves /static/ (the style sheet and the script).
var staticFS = func() fs.FS {
	f, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err)
	}
	return f
}()

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"num":   num,
	"text":  func(b []byte) string { return visible(string(b)) }, // a mirror's JSON as one line of text
	"since": sinceText,
	// the funnel chart
	"list":        func(v ...string) []string { return v },
	"add":         func(a, b int) int { return a + b },
	"rowY":        func(i int) int { return 24 + 40*i },
	"chartHeight": func(n int) int { return 30 + 40*n },
	"bar": func(v, most int) int {
		if most == 0 {
			return 0
		}
		return v * 520 / most
	},
	"pct": func(f float64) string { return strconv.FormatFloat(100*f, 'f', 1, 64) + " %" },
}).ParseFS(assets, "assets/templates/*.html"))

// render writes a page; html/template escapes every value (each a device's or an
// operator's string) as text.
func (c *Console) render(w http.ResponseWriter, name string, data any) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		c.log.Error("console: page", "page", name, "err", err)
		http.Error(w, "page failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b.Bytes())
}

func num(p *float64, unit string) string {
	if p == nil {
		return "–"
	}
	return fmt.Sprintf("%.1f%s", *p, unit)
}

func sinceText(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

type fleetData struct {
	Operator, Role, CSRF string
	CanCommand, IsAdmin  bool
	Mirrors              []Mirror
	Stores, States       []string
	Store, State         string
	Counts               map[string]int
	Total                int
	Commands             []string
}

// fleetPage is GET /: every mirror, problems first, with the filters of the query; the
// script refreshes the table from /api/mirrors.
func (c *Console) fleetPage(w http.ResponseWriter, r *http.Request, wh *who) {
	all, err := c.mirrors(r.Context())
	if err != nil {
		http.Error(w, "the database does not answer", http.StatusServiceUnavailable)
		return
	}
	d := fleetData{Operator: wh.op.Name, Role: wh.op.Role, CSRF: wh.session.CSRF, Counts: map[string]int{},
		CanCommand: roleLevel[wh.op.Role] >= roleLevel[hubstore.RoleOperator], IsAdmin: wh.op.Role == hubstore.RoleAdmin,
		States: []string{StateOffline, StateSilent, StateDegraded, StateOnline}, Total: len(all),
		Store: r.URL.Query().Get("store"), State: r.URL.Query().Get("state"), Commands: Commands}
	for _, m := range all {
		d.Counts[m.State]++
		if m.Store != "" && !slices.Contains(d.Stores, m.Store) {
			d.Stores = append(d.Stores, m.Store)
		}
	}
	slices.Sort(d.Stores)
	if d.Mirrors, err = c.filtered(r); err != nil {
		http.Error(w, "the database does not answer", http.StatusServiceUnavailable)
		return
	}
	c.render(w, "fleet.html", d)
}

type auditData struct {
	Operator, Role, CSRF string
	Entries              []hubstore.AuditEntry
}

// auditPage is GET /audit (admins): the newest 200 operator actions.
func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, wh *who) {
	es, err := c.st.Audit(r.Context(), 200)
	if err != nil {
		http.Error(w, "the database does not answer", http.StatusServiceUnavailable)
		return
	}
	c.render(w, "audit.html", auditData{Operator: wh.op.Name, Role: wh.op.Role, CSRF: wh.session.CSRF, Entries: es})
}
