package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
	"github.com/fitmirror/fitmirror/internal/httpguard"
)

// login checks name and password (form fields), rate-limited per name and client address,
// and sets the session cookie: HttpOnly, SameSite=Strict, for the session's lifetime. A
// browser form gets a redirect to the fleet page; a script (Accept: application/json) JSON.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r.Host) {
		httpError(w, http.StatusForbidden, "origin", "login from another site")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	name, pw := strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("password")
	ip := httpguard.ClientIP(r)
	wh := &who{op: hubstore.Operator{Name: truncate(name, 64)}, remote: ip}
	if name == "" || pw == "" {
		c.loginFailed(w, r, http.StatusBadRequest, "name and password are required")
		return
	}
	okIP, waitIP := c.perClient.Allow(ip)
	okName, waitName := c.perName.Allow(name + "\x00" + ip)
	if !okIP || !okName {
		c.audit(r.Context(), wh, "login", "", "refused: too many attempts")
		httpguard.TooMany(w, max(waitIP, waitName))
		return
	}
	op, ok, err := checkPassword(r.Context(), c.st, name, pw)
	if err != nil {
		c.log.Warn("console: login", "err", err)
		httpError(w, http.StatusServiceUnavailable, "store_unavailable", "the database does not answer")
		return
	}
	if !ok {
		c.audit(r.Context(), wh, "login", "", "failed: wrong name or password")
		c.loginFailed(w, r, http.StatusUnauthorized, "wrong name or password")
		return
	}
	tok, now := randToken(), c.now()
	s := hubstore.ConsoleSession{ID: sessionID(tok), Operator: op.Name, CSRF: randToken(), CreatedAt: now, ExpiresAt: now.Add(c.opts.SessionTTL)}
	if err := c.st.AddSession(r.Context(), s); err != nil {
		c.log.Warn("console: login", "err", err)
		httpError(w, http.StatusServiceUnavailable, "store_unavailable", "the database does not answer")
		return
	}
	wh.op, wh.session = op, s
	c.audit(r.Context(), wh, "login", "", "ok")
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil, Expires: s.ExpiresAt, MaxAge: int(c.opts.SessionTTL.Seconds())})
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]string{"operator": op.Name, "role": op.Role, "csrf": s.CSRF, "expires_at": s.ExpiresAt.Format("2006-01-02T15:04:05Z07:00")})
		return
	}
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (c *Console) loginFailed(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if wantsJSON(r) {
		httpError(w, status, "login_failed", msg)
		return
	}
	w.WriteHeader(status)
	c.render(w, "login.html", loginData{Error: msg, Next: safeNext(r.PostFormValue("next"))})
}

// logout ends the session and clears the cookie.
func (c *Console) logout(w http.ResponseWriter, r *http.Request, wh *who) {
	err := c.st.DeleteSession(r.Context(), wh.session.ID)
	result := "ok"
	if err != nil {
		result = "failed: " + err.Error()
	}
	c.audit(r.Context(), wh, "logout", "", result)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]bool{"logged_out": err == nil})
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

type loginData struct {
	Error string
	Next  string
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, "login.html", loginData{Next: safeNext(r.URL.Query().Get("next"))})
}

// safeNext keeps a redirect after login on the console: a path, never another site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/"
	}
	return next
}

func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host == host
}

func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}
