// pixret study page: one trial at a time; the answer, the click and the response time go to the
// server, with the window's size and the pointer (mouse, touch, pen) that answered.
//
// The whole trial fits the window: both photos are sized to the space left by the header and the
// answer bar, so the answer buttons are always on screen and no answer waits for a scroll (which
// would add its time to the response time, the study's main measure).
"use strict";

const $ = (id) => document.getElementById(id);
const S = { pid: null, trial: null, q: null, im: null, shownAt: 0, awaitingClick: false, sending: false, pointer: "" };
const touch = window.matchMedia("(pointer: coarse)").matches;

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

// Size a canvas to show an image (natural size w x h, in original pixels size[0] x size[1]) in
// at most maxW x maxH CSS pixels, sharp on high-density screens; returns the scale from original
// image pixels to canvas pixels.
function place(canvas, img, size, maxW, maxH) {
  const k = Math.min(maxW / img.naturalWidth, maxH / img.naturalHeight, 2);
  const w = Math.max(1, Math.floor(img.naturalWidth * k)), h = Math.max(1, Math.floor(img.naturalHeight * k));
  const dpr = window.devicePixelRatio || 1;
  canvas.style.width = `${w}px`; canvas.style.height = `${h}px`;
  canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
  canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
  return canvas.width / size[0];
}

// Lay the two photos out in the space the window leaves: side by side when it is wide, one
// above the other when it is tall (a phone held upright).
function layout() {
  const t = S.trial;
  if (!t || !S.q) return;
  const pair = $("pair"), box = pair.getBoundingClientRect();
  const bar = $("answer-bar").getBoundingClientRect();
  const availH = Math.max(120, bar.top - box.top - 8), availW = Math.max(160, pair.clientWidth);
  const cap = 22;  // a caption under each photo
  const wide = availW >= availH * 1.1;
  pair.classList.toggle("stacked", !wide);
  const maxW = wide ? (availW - 16) / 2 : availW, maxH = wide ? availH - cap : (availH - 2 * cap - 8) / 2;
  const qs = place($("q-canvas"), S.q, t.query_size, maxW, maxH);
  const b = t.query_box, qx = $("q-canvas").getContext("2d");
  qx.strokeStyle = "#3b7dd8"; qx.lineWidth = 3 * (window.devicePixelRatio || 1);
  qx.strokeRect(b[0] * qs, b[1] * qs, (b[2] - b[0]) * qs, (b[3] - b[1]) * qs);
  const is = place($("i-canvas"), S.im, t.image_size, maxW, maxH);
  drawOverlay($("i-canvas").getContext("2d"), t, is);
}

async function nextTrial() {
  const t = await api(`/api/study/p/${S.pid}/next`);
  $("progress").textContent = `trial ${Math.min(t.answered + 1, t.total)} of ${t.total}`;
  if (t.done) { view("done"); $("progress").textContent = `${t.total} of ${t.total} done`; return; }
  const base = `/api/study/p/${S.pid}/trials/${t.position}`;
  const [q, im] = await Promise.all([loadImage(`${base}/query.jpg`), loadImage(`${base}/image.jpg`)]);
  S.trial = t; S.q = q; S.im = im; S.awaitingClick = false;
  hint(false);
  view("trial");
  layout();
  const ic = $("i-canvas");
  ic.dataset.condition = t.condition; ic.dataset.position = t.position;
  S.shownAt = performance.now();  // response time runs from the moment both photos are shown
}

async function send(answer, click, pointer) {
  if (S.sending) return;
  S.sending = true;
  const rt = Math.max(1, performance.now() - S.shownAt);
  try {
    await api(`/api/study/p/${S.pid}/responses`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ position: S.trial.position, answer, click, rt_ms: Math.round(rt * 10) / 10,
                             viewport: [window.innerWidth, window.innerHeight], pointer: pointer || S.pointer || "" }),
    });
    showError("");
  } catch (e) {
    if (e.status !== 409) showError("Your answer could not be saved: " + e.message);  // 409: already saved
  } finally {
    S.sending = false;
  }
  await nextTrial();
}

// After "Yes": the caption under the second photo asks for the click (in place: nothing moves).
function hint(on) {
  $("yes").classList.toggle("chosen", on);
  $("i-caption").classList.toggle("asking", on);
  $("i-caption").textContent = on ? `${touch ? "Tap" : "Click"} on the object in this photo` : "is it here?";
  $("i-canvas").dataset.awaiting = on ? "1" : "";
}

const kind = (ev) => (["mouse", "touch", "pen"].includes(ev.pointerType) ? ev.pointerType : "");

function setup() {
  for (const el of document.querySelectorAll(".verb")) el.textContent = touch ? "tap" : "click";
  for (const el of document.querySelectorAll(".Verb")) el.textContent = touch ? "Tap" : "Click";
  // the pointer that last touched the page: what answered, when a click event does not say
  window.addEventListener("pointerdown", (ev) => { S.pointer = kind(ev) || S.pointer; }, true);
  $("start").onclick = async () => {
    try {
      const d = await api("/api/study/participants", { method: "POST" });
      S.pid = d.id;
      history.replaceState(null, "", `/study?p=${encodeURIComponent(S.pid)}`);  // the link to come back to
      await nextTrial();
    } catch (e) {
      $("closed").textContent = e.status === 409 ? e.message : `Could not start: ${e.message}`;
      $("closed").hidden = false;
    }
  };
  $("no").onclick = (ev) => send(0, null, kind(ev));
  $("yes").onclick = () => { S.awaitingClick = true; hint(true); };
  $("i-canvas").addEventListener("click", (ev) => {
    if (!S.awaitingClick) return;
    const r = $("i-canvas").getBoundingClientRect(), [w, h] = S.trial.image_size;
    const x = ((ev.clientX - r.left) / r.width) * w, y = ((ev.clientY - r.top) / r.height) * h;
    send(1, [Math.round(x * 10) / 10, Math.round(y * 10) / 10], kind(ev));
  });
  window.addEventListener("resize", layout);  // a phone turned, a window resized: the same trial, refitted
  const p = new URLSearchParams(location.search).get("p");
  if (p) { S.pid = p; nextTrial().catch((e) => { view("intro"); showError(e.message); }); return; }
  api("/api/study/status").then((s) => { if (!s.open) { $("closed").hidden = false; $("start").disabled = true; } }).catch(() => {});
}

setup();
