package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/fitmirror/fitmirror/internal/wire"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// filtered is the fleet with the request's filters: ?store=NAME and ?state=online|degraded|
// offline|silent|problem (every state but online).
func (c *Console) filtered(r *http.Request) ([]Mirror, error) {
	all, err := c.mirrors(r.Context())
	if err != nil {
		return nil, err
	}
	store, state := r.URL.Query().Get("store"), r.URL.Query().Get("state")
	if store == "" && state == "" {
		return all, nil
	}
	out := all[:0]
	for _, m := range all {
		if (store == "" || m.Store == store) && (state == "" || m.State == state || (state == "problem" && m.State != StateOnline)) {
			out = append(out, m)
		}
	}
	return out, nil
}

// apiMirrors is GET /api/mirrors: the fleet as JSON, problems first.
func (c *Console) apiMirrors(w http.ResponseWriter, r *http.Request, _ *who) {
	ms, err := c.filtered(r)
	if err != nil {
		httpError(w, http.StatusServiceUnavailable, "store_unavailable", "the database does not answer")
		return
	}
	writeJSON(w, http.StatusOK, ms)
}

// Commands are the commands the console sends (operator role and above).
var Commands = []string{wire.CmdPing, wire.CmdRestart, wire.CmdEndSession, wire.CmdReloadKiosk}

// apiCommand is POST /api/mirrors/{id}/cmd/{name}: it sends the command and waits up to
// CommandWait for the mirror's result (200 with it), or answers 202 with the request ID (the
// result shows on the mirror's row when it comes).
func (c *Console) apiCommand(w http.ResponseWriter, r *http.Request, wh *who) {
	id, name := r.PathValue("id"), r.PathValue("name")
	if !wire.ValidDeviceID(id) {
		httpError(w, http.StatusBadRequest, "bad_id", "not a mirror ID")
		return
	}
	if !slices.Contains(c.commands(), name) {
		httpError(w, http.StatusBadRequest, "unknown_command", "the console sends "+strings.Join(c.commands(), ", "))
		return
	}
	var args json.RawMessage
	if name == wire.CmdUpdate {
		var err error
		switch args, err = c.updateArgs(r.Context(), w, r, id); {
		case errors.Is(err, errStore):
			httpError(w, http.StatusServiceUnavailable, "store_unavailable", "the database does not answer")
			return
		case errors.Is(err, errNoRelease):
			httpError(w, http.StatusNotFound, "no_release", err.Error())
			return
		case err != nil:
			httpError(w, http.StatusBadRequest, "bad_args", err.Error())
			return
		}
	}
	now := c.now()
	exp := wire.Time{Time: now.Add(c.opts.CommandWait + 50*time.Second)}
	req := wire.CommandRequest{ID: "console-" + randToken()[:16], Args: args, ExpiresAt: &exp}
	body, _ := json.Marshal(req)
	ch, cancel := c.fleet.wait(id, req.ID)
	defer cancel()
	topic := wire.Topics{Prefix: c.fleet.prefix, Device: id}.Command(name)
	if err := c.opts.Publisher.Publish(r.Context(), topic, body); err != nil {
		c.audit(r.Context(), wh, "command "+name, id, "not sent: "+err.Error())
		httpError(w, http.StatusBadGateway, "broker", "the broker did not take the command: "+err.Error())
		return
	}
	t := time.NewTimer(c.opts.CommandWait)
	defer t.Stop()
	select {
	case res := <-ch:
		c.audit(r.Context(), wh, "command "+name, id, resultText(res))
		writeJSON(w, http.StatusOK, res)
	case <-t.C:
		c.audit(r.Context(), wh, "command "+name, id, "sent "+req.ID+", no result within "+c.opts.CommandWait.String())
		writeJSON(w, http.StatusAccepted, map[string]string{"id": req.ID, "command": name, "state": "sent"})
	case <-r.Context().Done():
		c.audit(r.Context(), wh, "command "+name, id, "sent "+req.ID+", the operator left")
	}
}

func resultText(r Result) string {
	if r.OK {
		return "ok " + truncate(string(r.Data), 200)
	}
	if r.Error != nil {
		return "error " + r.Error.Code + ": " + truncate(r.Error.Message, 200)
	}
	return "error"
}

// StoreRule is what a store (group) name may be.
const StoreRule = `^[\p{L}\p{N}][\p{L}\p{N} ._-]{0,63}$`

var storeRE = regexp.MustCompile(StoreRule)

// apiSetStore is POST /api/mirrors/{id}/store with form field store (or JSON {"store"}):
// places the mirror in a store; "" takes it out.
func (c *Console) apiSetStore(w http.ResponseWriter, r *http.Request, wh *who) {
	id := r.PathValue("id")
	if !wire.ValidDeviceID(id) {
		httpError(w, http.StatusBadRequest, "bad_id", "not a mirror ID")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	var store string
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var b struct {
			Store string `json:"store"`
		}
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
			httpError(w, http.StatusBadRequest, "bad_json", "want {\"store\":\"…\"}")
			return
		}
		store = b.Store
	} else {
		store = r.PostFormValue("store")
	}
	store = strings.TrimSpace(store)
	if store != "" && !storeRE.MatchString(store) {
		httpError(w, http.StatusBadRequest, "bad_store", "a store name is 1 to 64 letters, digits, spaces, '.', '_' or '-'")
		return
	}
	if err := c.st.SetMirrorStore(r.Context(), id, store); err != nil {
		c.audit(r.Context(), wh, "set store", id, "failed: "+err.Error())
		httpError(w, http.StatusServiceUnavailable, "store_unavailable", "the database does not answer")
		return
	}
	c.audit(r.Context(), wh, "set store", id, "ok: "+store)
	writeJSON(w, http.StatusOK, map[string]string{"id": id, "store": store})
}

// apiAudit is GET /api/audit (admins): the newest 200 entries of the audit log.
func (c *Console) apiAudit(w http.ResponseWriter, r *http.Request, _ *who) {
	es, err := c.st.Audit(r.Context(), 200)
	if err != nil {
		httpError(w, http.StatusServiceUnavailable, "store_unavailable", "the database does not answer")
		return
	}
	type entry struct {
		At       time.Time `json:"at"`
		Operator string    `json:"operator"`
		Action   string    `json:"action"`
		Target   string    `json:"target"`
		Result   string    `json:"result"`
		Remote   string    `json:"remote"`
	}
	out := make([]entry, 0, len(es))
	for _, e := range es {
		out = append(out, entry(e))
	}
	writeJSON(w, http.StatusOK, out)
}
