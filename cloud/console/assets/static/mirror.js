// The mirror page: commands with their results, the configuration editor and the mirror's
// answer, and a refresh of the state, results and configuration. Every string from a mirror
// goes into the page as text (textContent), never as markup.
"use strict";
(function () {
  const page = document.getElementById("mirror-page");
  if (!page) return;
  const csrf = document.querySelector('meta[name="csrf"]').content;
  const id = document.querySelector('meta[name="mirror"]').content;
  const base = "/api/mirrors/" + encodeURIComponent(id);
  const $ = (sel) => document.getElementById(sel);

  async function post(url, body) {
    const resp = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body || {}),
    });
    const v = await resp.json().catch(() => ({}));
    return { status: resp.status, body: v };
  }
  function cell(tr, text) {
    const td = document.createElement("td");
    td.textContent = text;
    tr.appendChild(td);
  }
  function resultText(r) {
    if (r.ok) return "ok " + (r.data ? JSON.stringify(r.data) : "");
    return "error " + (r.error ? r.error.code + ": " + r.error.message : "");
  }
  async function refresh() {
    try {
      const resp = await fetch(base, { credentials: "same-origin" });
      if (resp.status === 401) { location.href = "/login"; return; }
      if (!resp.ok) throw new Error(resp.status);
      const m = await resp.json();
      const st = $("mirror-state");
      st.textContent = m.state;
      st.className = "badge " + m.state;
      $("mirror-reason").textContent = m.reason || "";
      $("mirror-version").textContent = m.version + (m.target_version ? " → " + m.target_version : "");
      const rows = m.results.slice().reverse().map((r) => {
        const tr = document.createElement("tr");
        cell(tr, r.at.slice(11, 19) + "Z");
        cell(tr, r.command);
        cell(tr, resultText(r));
        return tr;
      });
      if (rows.length) $("results").tBodies[0].replaceChildren(...rows);
      const c = await (await fetch(base + "/config", { credentials: "same-origin" })).json();
      $("desired-version").textContent = c.desired_version ? "version " + c.desired_version : "none sent";
      $("reported-version").textContent = (c.reported_version ? "version " + c.reported_version : "none") +
        (c.applied_at ? " at " + c.applied_at.replace("T", " ").replace(/\.\d+/, "") : "");
      $("reported-error").textContent = c.error ? "refused: " + c.error.code + ": " + c.error.message : "";
      $("reported").textContent = c.reported ? JSON.stringify(c.reported, null, 2) : "The mirror has not reported a configuration.";
      document.body.dataset.refreshed = String((Number(document.body.dataset.refreshed) || 0) + 1);
    } catch (e) {
      $("mirror-reason").textContent = "refresh failed: " + e.message;
    }
  }
  page.addEventListener("click", async (ev) => {
    const b = ev.target.closest("button[data-cmd]");
    if (!b) return;
    const cmd = b.dataset.cmd;
    if (cmd !== "ping" && !confirm(cmd + " " + id + "?")) return;
    b.disabled = true;
    await post(base + "/cmd/" + cmd);
    b.disabled = false;
    refresh();
  });
  const upd = $("update-send");
  if (upd) upd.addEventListener("click", async () => {
    const version = $("update-version").value;
    if (!confirm("update " + id + " to " + version + "?")) return;
    upd.disabled = true;
    await post(base + "/cmd/update", { version: version, allow_downgrade: $("update-downgrade").checked });
    upd.disabled = false;
    refresh();
  });
  const editor = $("config-editor");
  const answer = $("config-answer");
  function say(cls, text) {
    answer.className = "answer " + cls;
    answer.textContent = text;
  }
  async function send(dry) {
    let cfg;
    try {
      cfg = JSON.parse(editor.value);
    } catch (e) {
      say("invalid", "not JSON: " + e.message);
      return;
    }
    say("", dry ? "checking…" : "sending…");
    const r = await post(base + "/config" + (dry ? "?dry_run=1" : ""), { config: cfg });
    const v = r.body;
    if (r.status === 422) say("invalid", "not sent: " + v.error.message);
    else if (r.status >= 400) say("invalid", "not sent: " + (v.error ? v.error.message : r.status));
    else if (v.state === "valid") say("valid", "valid: the agent's rules accept it");
    else if (v.state === "applied") say("applied", "version " + v.version + " applied by the mirror");
    else if (v.state === "refused") say("refused", "version " + v.version + " refused by the mirror: " + v.error.message);
    else say("sent", "version " + v.version + " sent (retained); no answer yet: the mirror applies it when it connects");
    refresh();
  }
  if (editor) {
    $("config-check").addEventListener("click", () => send(true));
    $("config-send").addEventListener("click", () => send(false));
  }
  setInterval(refresh, 5000);
  refresh();
})();
