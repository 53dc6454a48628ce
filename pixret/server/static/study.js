// pixret study page: one trial at a time; the answer, the click and the response time go to the server.
"use strict";

const $ = (id) => document.getElementById(id);
const S = { pid: null, trial: null, shownAt: 0, awaitingClick: false, sending: false, iScale: 1 };

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("could not load an image"));
    img.src = url;
  });
}

async function api(path, opts) {
  const r = await fetch(path, opts);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) { const e = new Error(body.detail || r.statusText); e.status = r.status; throw e; }
  return body;
}

function showError(msg) { $("error").textContent = msg; $("error").hidden = !msg; }

function view(name) { for (const v of ["intro", "trial", "done"]) $(v).hidden = v !== name; }

function fit(img, maxW, maxH) { return Math.min(1, maxW / img.naturalWidth, maxH / img.naturalHeight); }

function drawPolys(ctx, polys, s, stroke, fill) {
  for (const p of polys) {
    if (p.length < 2) continue;
    ctx.beginPath();
    p.forEach(([x, y], k) => (k ? ctx.lineTo(x * s, y * s) : ctx.moveTo(x * s, y * s)));
    ctx.closePath();
    if (fill) { ctx.fillStyle = fill; ctx.fill(); }
    ctx.strokeStyle = stroke; ctx.lineWidth = 3; ctx.stroke();
  }
}

// The trial's condition: "image" (nothing drawn), "box" (a box around the method's prediction)
// or "mask" (the method's pixels tinted).
function drawOverlay(ctx, t, s) {
  const pts = t.overlay.flat();
  if (t.condition === "box" && pts.length) {
    const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
    const x0 = Math.min(...xs), y0 = Math.min(...ys), x1 = Math.max(...xs), y1 = Math.max(...ys);
    ctx.strokeStyle = "#f0a020"; ctx.lineWidth = 4; ctx.strokeRect(x0 * s, y0 * s, (x1 - x0) * s, (y1 - y0) * s);
  } else if (t.condition === "mask") {
    drawPolys(ctx, t.overlay, s, "#f03c3c", "rgba(240,60,60,0.40)");
  }
}

async function nextTrial() {
  const t = await api(`/api/study/p/${S.pid}/next`);
  $("progress").textContent = `trial ${Math.min(t.answered + 1, t.total)} of ${t.total}`;
  if (t.done) { view("done"); $("progress").textContent = `${t.total} of ${t.total} done`; return; }
  const base = `/api/study/p/${S.pid}/trials/${t.position}`;
  const [q, im] = await Promise.all([loadImage(`${base}/query.jpg`), loadImage(`${base}/image.jpg`)]);
  const W = Math.max(240, Math.min(560, (window.innerWidth - 60) / (window.innerWidth > 700 ? 2 : 1)));
  const qc = $("q-canvas"), ic = $("i-canvas");
  const qs = fit(q, W, 480), is = fit(im, W, 480);
  qc.width = Math.round(q.naturalWidth * qs); qc.height = Math.round(q.naturalHeight * qs);
  ic.width = Math.round(im.naturalWidth * is); ic.height = Math.round(im.naturalHeight * is);
  const qx = qc.getContext("2d"), ix = ic.getContext("2d");
  qx.drawImage(q, 0, 0, qc.width, qc.height);
  // photos may be served smaller than they are: boxes and polygons are in original pixels
  const b = t.query_box, qk = qc.width / t.query_size[0];
  qx.strokeStyle = "#3b7dd8"; qx.lineWidth = 3;
  qx.strokeRect(b[0] * qk, b[1] * qk, (b[2] - b[0]) * qk, (b[3] - b[1]) * qk);
  ix.drawImage(im, 0, 0, ic.width, ic.height);
  S.iScale = ic.width / t.image_size[0];  // canvas pixels per original image pixel
  drawOverlay(ix, t, S.iScale);
  S.trial = t; S.awaitingClick = false; $("click-hint").hidden = true;
  ic.dataset.condition = t.condition; ic.dataset.position = t.position;
  view("trial");
  S.shownAt = performance.now();  // response time runs from the moment both photos are shown
}

async function send(answer, click) {
  if (S.sending) return;
  S.sending = true;
  const rt = Math.max(1, performance.now() - S.shownAt);
  try {
    await api(`/api/study/p/${S.pid}/responses`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ position: S.trial.position, answer, click, rt_ms: rt }),
    });
    showError("");
  } catch (e) {
    if (e.status !== 409) showError("Your answer could not be saved: " + e.message);  // 409: already saved
  } finally {
    S.sending = false;
  }
  await nextTrial();
}

function setup() {
  $("start").onclick = async () => {
    const d = await api("/api/study/participants", { method: "POST" });
    S.pid = d.id;
    history.replaceState(null, "", `/study?p=${encodeURIComponent(S.pid)}`);  // the link to come back to
    await nextTrial();
  };
  $("no").onclick = () => send(0, null);
  $("yes").onclick = () => { S.awaitingClick = true; $("click-hint").hidden = false; };
  $("i-canvas").addEventListener("click", (ev) => {
    if (!S.awaitingClick) return;
    const c = $("i-canvas"), r = c.getBoundingClientRect();
    const x = ((ev.clientX - r.left) * (c.width / r.width)) / S.iScale;
    const y = ((ev.clientY - r.top) * (c.height / r.height)) / S.iScale;
    send(1, [Math.round(x * 10) / 10, Math.round(y * 10) / 10]);
  });
  const p = new URLSearchParams(location.search).get("p");
  if (p) { S.pid = p; nextTrial().catch((e) => { view("intro"); showError(e.message); }); }
}

setup();
