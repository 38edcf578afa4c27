package console_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/console"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
)

// Every page and API refuses without a session (a page redirects to /login, an API answers
// 401), a bogus cookie is no session, a CSRF-less POST is 403 even with one, a viewer may not
// command or read the audit log, and only the login page and the style and script are public.
func TestEverythingNeedsASession(t *testing.T) {
	pub := &recorder{}
	e := newEnv(t, pub, nil, nil)
	viewerPW := e.addOperator(t, "vera", hubstore.RoleViewer)
	operatorPW := e.addOperator(t, "otto", hubstore.RoleOperator)
	routes := []struct{ method, path string }{
		{"GET", "/"}, {"GET", "/audit"}, {"GET", "/api/mirrors"}, {"GET", "/api/audit"}, {"GET", "/nothing-here"},
		{"POST", "/logout"}, {"POST", "/api/mirrors/m1/cmd/ping"}, {"POST", "/api/mirrors/m1/store"},
	}
	anon := e.anonymous()
	bogus := e.anonymous()
	u, _ := http.NewRequest("GET", e.srv.URL, nil)
	bogus.hc.Jar.SetCookies(u.URL, []*http.Cookie{{Name: "fitmirror_console", Value: "forged-token"}})
	for _, c := range []*client{anon, bogus} {
		for _, r := range routes {
			var resp *http.Response
			var body string
			if r.method == "GET" {
				resp, body = c.get(t, r.path)
			} else {
				resp, body = c.post(t, r.path, `{"store":"x"}`, false)
			}
			switch {
			case r.method == "GET" && !strings.HasPrefix(r.path, "/api/"):
				if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
					t.Errorf("%s %s without a session: %s to %q, want 303 to /login", r.method, r.path, resp.Status, resp.Header.Get("Location"))
				}
			case resp.StatusCode != http.StatusUnauthorized:
				t.Errorf("%s %s without a session: %s %s, want 401", r.method, r.path, resp.Status, body)
			}
		}
	}
	for _, p := range []string{"/login", "/static/console.js", "/static/console.css"} {
		if resp, _ := anon.get(t, p); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s, want 200 (public)", p, resp.Status)
		}
	}
	viewer := e.login(t, "vera", viewerPW)
	if resp, body := viewer.post(t, "/api/mirrors/m1/cmd/ping", "", true); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "forbidden") {
		t.Errorf("viewer's ping: %s %s, want 403 forbidden", resp.Status, body)
	}
	if resp, _ := viewer.post(t, "/api/mirrors/m1/store", `{"store":"s1"}`, true); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer's store change: %s, want 403", resp.Status)
	}
	for _, p := range []string{"/audit", "/api/audit"} {
		if resp, _ := viewer.get(t, p); resp.StatusCode != http.StatusForbidden {
			t.Errorf("viewer's GET %s: %s, want 403", p, resp.Status)
		}
	}
	if resp, _ := viewer.get(t, "/api/mirrors"); resp.StatusCode != http.StatusOK {
		t.Errorf("viewer's GET /api/mirrors: %s, want 200", resp.Status)
	}
	e.fleet.Handle("mirror/m1/status", []byte(`{"state":"online"}`))
	if _, page := viewer.get(t, "/"); !strings.Contains(page, `data-id="m1"`) || strings.Contains(page, "data-cmd") || !strings.Contains(page, `name="can-command" content="false"`) {
		t.Errorf("viewer's fleet page offers commands or lacks m1:\n%s", page)
	}
	op := e.login(t, "otto", operatorPW)
	if resp, body := op.post(t, "/api/mirrors/m1/store", `{"store":"s1"}`, false); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "csrf") {
		t.Errorf("operator's POST without CSRF token: %s %s, want 403 csrf", resp.Status, body)
	}
	op.csrf = "wrong" + op.csrf
	if resp, _ := op.post(t, "/api/mirrors/m1/store", `{"store":"s1"}`, true); resp.StatusCode != http.StatusForbidden {
		t.Errorf("operator's POST with a wrong CSRF token: %s, want 403", resp.Status)
	}
	op.csrf = strings.TrimPrefix(op.csrf, "wrong")
	if resp, body := op.post(t, "/api/mirrors/m1/store", `{"store":"s1"}`, true); resp.StatusCode != http.StatusOK {
		t.Errorf("operator's POST with its CSRF token: %s %s, want 200", resp.Status, body)
	}
	if len(pub.sent) != 0 {
		t.Errorf("commands sent: %v, want none", pub.sent)
	}
}

// A login sets an HttpOnly, SameSite=Strict cookie whose token the database does not hold;
// logout ends the session; the audit log, which admins see, has who, what, when and result.
func TestLoginLogoutAndAudit(t *testing.T) {
	e := newEnv(t, nil, nil, nil)
	pw := e.addOperator(t, "ada", hubstore.RoleAdmin)
	c := e.anonymous()
	if resp, _ := c.postLogin(t, "ada", "wrong-password-123"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: %s, want 401", resp.Status)
	}
	if resp, _ := c.postLogin(t, "nobody", pw); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unknown name: %s, want 401", resp.Status)
	}
	resp, body := c.postLogin(t, "ada", pw)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %s %s", resp.Status, body)
	}
	sc := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"fitmirror_console=", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(sc, want) {
			t.Errorf("Set-Cookie %q lacks %s", sc, want)
		}
	}
	token := strings.TrimPrefix(strings.Split(sc, ";")[0], "fitmirror_console=")
	if _, err := e.st.Session(t.Context(), token, time.Now()); err == nil {
		t.Error("the database holds the cookie's token itself")
	}
	// A browser's form login redirects to the fleet page.
	form, _ := http.NewRequest("POST", e.srv.URL+"/login", strings.NewReader("name=ada&password="+pw+"&next=//evil.example"))
	form.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r2, _ := e.anonymous().do(t, form); r2.StatusCode != http.StatusSeeOther || r2.Header.Get("Location") != "/" {
		t.Errorf("form login: %s to %q, want 303 to / (never another site)", r2.Status, r2.Header.Get("Location"))
	}
	c = e.login(t, "ada", pw)
	if r2, body := c.get(t, "/"); r2.StatusCode != http.StatusOK || !strings.Contains(body, "ada (admin)") {
		t.Errorf("fleet page: %s", r2.Status)
	}
	if r2, body := c.post(t, "/logout", "", true); r2.StatusCode != http.StatusOK {
		t.Fatalf("logout: %s %s", r2.Status, body)
	}
	if r2, _ := c.get(t, "/api/mirrors"); r2.StatusCode != http.StatusUnauthorized {
		t.Errorf("after logout: %s, want 401", r2.Status)
	}
	admin := e.login(t, "ada", pw)
	r2, body := admin.get(t, "/api/audit")
	if r2.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/audit: %s %s", r2.Status, body)
	}
	es := audit(t, e.st)
	var got []string
	for i := len(es) - 1; i >= 0; i-- {
		a := es[i]
		if a.At.IsZero() || a.Remote != "127.0.0.1" {
			t.Errorf("audit entry %+v lacks when or where", a)
		}
		got = append(got, a.Operator+" "+a.Action+" "+a.Result)
	}
	want := []string{"ada login failed: wrong name or password", "nobody login failed: wrong name or password",
		"ada login ok", "ada login ok", "ada login ok", "ada logout ok", "ada login ok"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit log:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, w := range []string{`"operator":"ada"`, `"action":"logout"`, `"result":"ok"`} {
		if !strings.Contains(body, w) {
			t.Errorf("/api/audit lacks %s", w)
		}
	}
	if r3, page := admin.get(t, "/audit"); r3.StatusCode != http.StatusOK || !strings.Contains(page, "logout") {
		t.Errorf("audit page: %s", r3.Status)
	}
}

// Logins are limited per name and client address: after the burst even the right password
// is refused (429) and the refusal is audited; another name from the address still works.
func TestLoginIsRateLimited(t *testing.T) {
	e := newEnv(t, nil, nil, func(o *console.Options) { o.LoginBurst, o.LoginEvery = 3, time.Hour })
	pw := e.addOperator(t, "ada", hubstore.RoleAdmin)
	pw2 := e.addOperator(t, "bo", hubstore.RoleViewer)
	c := e.anonymous()
	for i := range 3 {
		if resp, _ := c.postLogin(t, "ada", "guess-number-"+string(rune('a'+i))); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %s, want 401", i, resp.Status)
		}
	}
	resp, _ := c.postLogin(t, "ada", pw)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("4th attempt: %s (Retry-After %q), want 429 with Retry-After", resp.Status, resp.Header.Get("Retry-After"))
	}
	if resp, _ := c.postLogin(t, "bo", pw2); resp.StatusCode != http.StatusOK {
		t.Errorf("another name from the same address: %s, want 200", resp.Status)
	}
	if es := audit(t, e.st); len(es) < 2 || es[1].Result != "refused: too many attempts" {
		t.Errorf("audit: %+v, want the refusal recorded", es)
	}
}

// A session ends at console.session_ttl; so do an operator's sessions when it is given a new
// password or removed.
func TestSessionExpires(t *testing.T) {
	clk := newClock()
	e := newEnv(t, nil, clk.Now, func(o *console.Options) { o.SessionTTL = time.Hour })
	pw := e.addOperator(t, "ada", hubstore.RoleAdmin)
	c := e.login(t, "ada", pw)
	clk.Add(59 * time.Minute)
	if resp, _ := c.get(t, "/api/mirrors"); resp.StatusCode != http.StatusOK {
		t.Errorf("at 59 min: %s, want 200", resp.Status)
	}
	clk.Add(time.Minute)
	if resp, _ := c.get(t, "/api/mirrors"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("at 60 min: %s, want 401", resp.Status)
	}
	c = e.login(t, "ada", pw)
	if _, err := console.SetPassword(t.Context(), e.st, "ada", "a-new-password-1234"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := c.get(t, "/api/mirrors"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after a new password: %s, want 401", resp.Status)
	}
	c = e.login(t, "ada", "a-new-password-1234")
	if err := e.st.RemoveOperator(context.Background(), "ada"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := c.get(t, "/api/mirrors"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after removal: %s, want 401", resp.Status)
	}
}
