// The fleet page's refresh and commands. Every string from a mirror goes into the page as
// text (textContent), never as markup.
"use strict";
(function () {
  const table = document.getElementById("fleet");
  if (!table) return;
  const csrf = document.querySelector('meta[name="csrf"]').content;
  const canCommand = document.querySelector('meta[name="can-command"]').content === "true";
  const commands = ["ping", "restart", "end-session", "reload-kiosk"];
  const tbody = table.tBodies[0];
  const updated = document.getElementById("updated");
  const filters = document.getElementById("filters");

  function num(v, unit) { return v === null || v === undefined ? "–" : v.toFixed(1) + unit; }
  function seen(t) { return t ? t.replace("T", " ").replace(/\.\d+/, "").replace("+00:00", "Z") : "never"; }
  function cell(tr, text, cls) {
    const td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }
  function resultText(r) {
    if (r.ok) return r.command + ": ok " + (r.data ? JSON.stringify(r.data) : "");
    return r.command + ": error " + (r.error ? r.error.code + ": " + r.error.message : "");
  }
  function row(m) {
    const tr = document.createElement("tr");
    tr.className = "state-" + m.state;
    tr.dataset.id = m.id;
    const link = document.createElement("a");
    link.href = "/mirrors/" + encodeURIComponent(m.id);
    link.textContent = m.id;
    cell(tr, "", "id").appendChild(link);
    const st = cell(tr, "", "state");
    const badge = document.createElement("span");
    badge.className = "badge " + m.state;
    badge.textContent = m.state;
    st.appendChild(badge);
    if (m.reason) {
      const r = document.createElement("span");
      r.className = "reason";
      r.textContent = " " + m.reason;
      st.appendChild(r);
    }
    cell(tr, m.store, "store");
    cell(tr, seen(m.last_seen), "seen");
    cell(tr, m.version + (m.target_version ? " → " + m.target_version : ""), "version");
    const pr = cell(tr, "", "problems");
    for (const p of m.problems) {
      const d = document.createElement("div");
      d.textContent = p.part + " " + p.state + (p.reason ? ": " + p.reason : "");
      pr.appendChild(d);
    }
    cell(tr, num(m.cpu, "%"));
    cell(tr, num(m.temp, " °C"));
    cell(tr, num(m.disk, " MB"));
    cell(tr, num(m.fps, " fps") + (m.camera ? " (" + m.camera + ")" : ""));
    cell(tr, m.results.length ? resultText(m.results[m.results.length - 1]) : "", "result");
    if (canCommand) {
      const td = cell(tr, "", "actions");
      for (const c of commands.concat(["store"])) {
        const b = document.createElement("button");
        b.type = "button";
        b.dataset.cmd = c;
        b.textContent = c === "store" ? "store…" : c;
        td.appendChild(b);
      }
    }
    return tr;
  }
  async function refresh() {
    try {
      const q = new URLSearchParams(new FormData(filters)).toString();
      const resp = await fetch("/api/mirrors?" + q, { credentials: "same-origin" });
      if (resp.status === 401) { location.href = "/login"; return; }
      if (!resp.ok) throw new Error(resp.status);
      const ms = await resp.json();
      const rows = ms.map(row);
      tbody.replaceChildren(...rows);
      if (!rows.length) {
        const tr = document.createElement("tr");
        tr.className = "empty";
        const td = cell(tr, "No mirror matches.");
        td.colSpan = 12;
        tbody.appendChild(tr);
      }
      const counts = { offline: 0, silent: 0, degraded: 0, online: 0 };
      for (const m of ms) counts[m.state]++;
      for (const [state, n] of Object.entries(counts)) {
        const el = document.querySelector("#summary .count." + state);
        if (el) el.textContent = n + " " + state;
      }
      updated.textContent = "updated " + new Date().toLocaleTimeString();
      document.body.dataset.refreshed = String((Number(document.body.dataset.refreshed) || 0) + 1);
    } catch (e) {
      updated.textContent = "refresh failed: " + e.message;
    }
  }
  async function post(url, body) {
    const resp = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body || {}),
    });
    return resp.json().catch(() => ({}));
  }
  tbody.addEventListener("click", async (ev) => {
    const b = ev.target.closest("button[data-cmd]");
    if (!b) return;
    const id = b.closest("tr").dataset.id;
    const cmd = b.dataset.cmd;
    if (cmd === "store") {
      const s = prompt("Store (group) of " + id + " (empty: none)");
      if (s === null) return;
      await post("/api/mirrors/" + encodeURIComponent(id) + "/store", { store: s });
    } else {
      if (cmd !== "ping" && !confirm(cmd + " " + id + "?")) return;
      b.disabled = true;
      await post("/api/mirrors/" + encodeURIComponent(id) + "/cmd/" + cmd);
      b.disabled = false;
    }
    refresh();
  });
  filters.addEventListener("change", refresh);
  setInterval(refresh, 3000);
  refresh();
})();
