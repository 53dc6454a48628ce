// pixret study admin page: progress per participant and per condition, close/reopen, the cap.
// Signed in by a cookie (the login form); every request here is same-origin.
"use strict";

const $ = (id) => document.getElementById(id);

async function api(path, opts) {
  const r = await fetch(path, { credentials: "same-origin", ...opts });
  const body = await r.json().catch(() => ({}));
  if (r.status === 401) { location.reload(); throw new Error("signed out"); }
  if (!r.ok) throw new Error(body.detail || r.statusText);
  return body;
}

function showError(msg) { $("error").textContent = msg; $("error").hidden = !msg; }

// a row of text cells (text, never markup) and a progress bar; each cell carries its column's
// name (data-label), which a phone shows beside it: there each row is a card, not a wide line
function row(table, cells, done, total) {
  const tr = document.createElement("tr");
  const heads = [...table.tHead.rows[0].cells].map((th) => th.textContent);
  cells.forEach((c, k) => {
    const td = document.createElement("td");
    td.dataset.label = heads[k] || "progress";
    if (k === 2) {
      const bar = document.createElement("progress");
      bar.max = Math.max(1, total); bar.value = done;
      td.append(bar);
    } else td.textContent = c;
    tr.append(td);
  });
  return tr;
}

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "-");

async function refresh() {
  try {
    const d = await api("/api/study/admin/progress");
    // names from the study file: invisible characters shown (names.js); an oracle named as one
    $("what").textContent = `${visible(d.dataset)}: ${visible(d.shown)}, ${d.trials} trials each`;
    $("oracle-note").hidden = !d.oracle;
    $("oracle-note").textContent = d.oracle ? `An oracle: the boxes and masks participants see come from the ` +
      `benchmark's labels (${visible(d.oracle)}), not from a method's predictions, whatever the study's label.` : "";
    $("open").checked = d.settings.open;
    $("open-text").textContent = d.settings.open ? "open to new participants" : "closed: no new participants";
    if (document.activeElement !== $("cap")) $("cap").value = d.settings.cap ?? "";
    const done = d.participants.filter((p) => p.answered === p.trials).length;
    $("people").textContent = `${d.participants.length} started, ${done} finished` +
      (d.settings.cap ? ` (cap ${d.settings.cap})` : "");
    $("participants").tBodies[0].replaceChildren(...d.participants.map((p) =>
      row($("participants"), [String(p.participant), `${p.answered} / ${p.trials}`, "", p.pointers.join(", ") || "-", when(p.started), when(p.last_answer)],
        p.answered, p.trials)));
    $("conditions").tBodies[0].replaceChildren(...d.conditions.map((c) =>
      row($("conditions"), [c.condition, `${c.answered} / ${c.assigned}`, ""], c.answered, c.assigned)));
    document.body.dataset.loaded = "1";
    showError("");
  } catch (e) { showError("Could not load the progress: " + e.message); }
}

async function settings(body) {
  const s = await api("/api/study/admin/settings", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  $("saved").textContent = `saved: ${s.open ? "open" : "closed"}, cap ${s.cap ?? "none"}`;
  await refresh();
}

$("open").onchange = () => settings({ open: $("open").checked }).catch((e) => showError(e.message));
$("save-cap").onclick = () => {
  const v = $("cap").value.trim();
  settings({ cap: v === "" ? null : Number(v) }).catch((e) => showError(e.message));
};
$("link").textContent = `${location.origin}/study`;
$("link").href = "/study";
refresh();
setInterval(refresh, 5000);
