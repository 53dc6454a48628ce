// pixret page: pick or upload a query, draw a box, search, see the object's pixels.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { page: 0, perPage: 30, total: 0, query: null, box: null, search: null, drag: null, busy: false, seq: 0, opener: null };

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("could not load " + url));
    img.src = url;
  });
}

// Draw polygons (image pixels) scaled by s onto ctx: tinted fill and outline.
function drawPolys(ctx, polys, s, color, fill, dx = 0, dy = 0) {
  for (const p of polys || []) {
    if (p.length < 2) continue;
    ctx.beginPath();
    p.forEach(([x, y], k) => (k ? ctx.lineTo(dx + x * s, dy + y * s) : ctx.moveTo(dx + x * s, dy + y * s)));
    ctx.closePath();
    if (fill) { ctx.fillStyle = fill; ctx.fill(); }
    ctx.strokeStyle = color; ctx.lineWidth = 2; ctx.stroke();
  }
}

async function api(path, opts) {
  const r = await fetch(path, opts);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.detail || r.statusText);
  return body;
}

// ---------------------------------------------------------------- feedback
function showError(msg) {
  $("error").textContent = msg;
  $("error").hidden = !msg;
}

// ---------------------------------------------------------------- query picking
async function showThumbs() {
  const d = await api(`/api/images?offset=${state.page * state.perPage}&limit=${state.perPage}`);
  state.total = d.total;
  const items = d.images.map((im) => {
    const b = document.createElement("button");  // a button: reachable and usable by keyboard
    b.className = "thumb";
    b.title = im.name;
    b.dataset.id = im.id;
    const t = document.createElement("img");
    t.src = `/api/images/${im.id}?size=160`;
    t.alt = `use ${im.name} as the query`;
    b.append(t);
    b.onclick = () => {
      document.querySelectorAll("#thumbs .thumb").forEach((x) => x.classList.remove("sel"));
      b.classList.add("sel");
      $("upload").value = "";  // the file field no longer names the query
      setQuery({ imageId: im.id, url: `/api/images/${im.id}` });
    };
    return b;
  });
  $("thumbs").replaceChildren(...items);
  const pages = Math.max(1, Math.ceil(d.total / state.perPage));
  $("page").textContent = `${state.page + 1} / ${pages}`;
}

async function setQuery(q) {
  showError("");
  try {
    q.img = await loadImage(q.url);
  } catch (e) {
    showError(`${q.file ? q.file.name : "this image"} could not be read as an image (JPEG, PNG, WebP, BMP or TIFF)`);
    return;
  }
  state.query = q;
  setBox(null);
  $("box-fields").disabled = false;
  $("box-text").textContent = "drag on the image (or type the box) to mark the object";
  drawQuery();
}

// The box, in image pixels: drawn on the canvas, mirrored in the x1..y2 fields.
function setBox(b, fromFields = false) {
  state.box = b;
  const ok = !!b && b[2] - b[0] > 8 && b[3] - b[1] > 8;
  $("search-btn").disabled = !ok || state.busy;
  if (!fromFields) ["bx1", "by1", "bx2", "by2"].forEach((id, k) => ($(id).value = b ? Math.round(b[k]) : ""));
  if (b) $("box-text").textContent = ok ? `box ${b.map((v) => Math.round(v)).join(", ")}` : "box too small: drag again";
  drawQuery();
}

function boxFromFields() {
  const v = ["bx1", "by1", "bx2", "by2"].map((id) => parseFloat($(id).value));
  if (v.some((x) => !isFinite(x)) || !state.query) return setBox(null, true);
  const img = state.query.img, W = img.naturalWidth, H = img.naturalHeight;
  const c = (x, m) => Math.max(0, Math.min(m, x));
  setBox([c(Math.min(v[0], v[2]), W), c(Math.min(v[1], v[3]), H), c(Math.max(v[0], v[2]), W), c(Math.max(v[1], v[3]), H)], true);
}

function queryScale() {
  const img = state.query.img, avail = Math.min(640, $("query-wrap").parentElement.clientWidth || 640);
  return Math.min(1, avail / img.naturalWidth, 520 / img.naturalHeight);
}

function drawQuery(support) {
  const c = $("query-canvas"), ctx = c.getContext("2d");
  if (!state.query) return;
  const img = state.query.img, s = queryScale();
  c.width = Math.round(img.naturalWidth * s); c.height = Math.round(img.naturalHeight * s);
  ctx.drawImage(img, 0, 0, c.width, c.height);
  const b = state.box;
  if (b) {
    ctx.strokeStyle = "#3b7dd8"; ctx.lineWidth = 3;
    ctx.strokeRect(b[0] * s, b[1] * s, (b[2] - b[0]) * s, (b[3] - b[1]) * s);
  }
  if (support) drawPolys(ctx, support, s, "#f03c3c", "rgba(240,60,60,0.25)");
}

function canvasPoint(ev) {
  const c = $("query-canvas"), r = c.getBoundingClientRect(), s = queryScale();
  return [((ev.clientX - r.left) * (c.width / r.width)) / s, ((ev.clientY - r.top) * (c.height / r.height)) / s];
}

// Pointer events: mouse, pen and touch alike (the canvas has touch-action: none, so a drag
// draws instead of scrolling the page).
function setupDrawing() {
  const c = $("query-canvas");
  c.addEventListener("pointerdown", (ev) => {
    if (!state.query) return;
    c.setPointerCapture(ev.pointerId);
    state.drag = canvasPoint(ev);
    ev.preventDefault();
  });
  c.addEventListener("pointermove", (ev) => {
    if (!state.drag) return;
    const p = canvasPoint(ev), a = state.drag;
    setBox([Math.min(a[0], p[0]), Math.min(a[1], p[1]), Math.max(a[0], p[0]), Math.max(a[1], p[1])]);
  });
  const end = () => { state.drag = null; };
  c.addEventListener("pointerup", end);
  c.addEventListener("pointercancel", end);
  ["bx1", "by1", "bx2", "by2"].forEach((id) => $(id).addEventListener("input", boxFromFields));
  $("box-fields").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !$("search-btn").disabled) doSearch();
  });
}

// ---------------------------------------------------------------- search
async function doSearch() {
  if (state.busy || !state.box) return;
  const seq = ++state.seq;  // a later search makes this one's answer out of date
  state.busy = true;
  $("search-btn").disabled = true;
  showError("");
  const fd = new FormData();
  fd.append("box", state.box.map((v) => Math.round(v)).join(","));  // the numbers the page shows
  fd.append("top", "24");
  if (state.query.file) fd.append("file", state.query.file); else fd.append("image_id", state.query.imageId);
  $("status").textContent = "searching ...";
  try {
    const d = await api("/api/search", { method: "POST", body: fd });
    if (seq !== state.seq) return;
    state.search = d;
    showResults(d);
  } catch (e) {
    if (seq === state.seq) { showError("Search failed: " + e.message); $("status").textContent = ""; }
  } finally {
    if (seq === state.seq) { state.busy = false; $("search-btn").disabled = !state.box; }
  }
}

function showResults(d) {
  const found = d.hits.filter((h) => h.verified), others = d.hits.filter((h) => !h.verified);
  $("status").textContent = `found in ${found.length} image${found.length === 1 ? "" : "s"}, ${Math.round(d.timings.total * 1000)} ms`;
  drawQuery(d.support);
  $("results").replaceChildren(...found.map((h) => resultTile(h, d.search_id)));
  $("no-match").hidden = found.length > 0;
  $("unverified").hidden = others.length === 0;
  $("unverified").open = false;
  $("unverified-summary").textContent = `${others.length} other candidate${others.length === 1 ? "" : "s"}: object not found in them`;
  $("unverified-grid").replaceChildren(...others.map((h) => resultTile(h, d.search_id)));
  $("results-panel").scrollIntoView({ behavior: "smooth", block: "start" });
}

// Paint an image 240 px wide on canvas c, then polygon layers [polys, color, fill] given in
// pixels of the original image (origW wide; null when the URL serves it at full size).
async function paintTile(c, url, origW, layers) {
  const img = await loadImage(url);
  c.width = 240; c.height = Math.round((img.naturalHeight * 240) / img.naturalWidth);
  const ctx = c.getContext("2d");
  ctx.drawImage(img, 0, 0, c.width, c.height);
  const s = 240 / (origW || img.naturalWidth);
  for (const [polys, color, fill] of layers) drawPolys(ctx, polys, s, color, fill);
}

function resultTile(h, sid) {
  const div = document.createElement("button");  // focusable; Enter or a click opens the detail view
  div.className = "tile" + (h.verified ? " verified" : "");
  div.dataset.verified = h.verified;
  div.dataset.rank = h.rank;
  const what = h.verified ? `object found, ${h.inliers} matching points` : "object not found";
  div.setAttribute("aria-label", `result ${h.rank + 1}: ${h.name}, ${what}`);
  const c = document.createElement("canvas");
  const cap = document.createElement("div");
  cap.className = "cap";
  cap.textContent = `#${h.rank + 1} ${h.name} · ${what}`;
  div.append(c, cap);
  paintTile(c, `/api/images/${h.id}?size=480`, h.w, [
    [h.box_polygons, "#3b7dd8", null],
    [h.polygons, "#f03c3c", "rgba(240,60,60,0.40)"],
  ]).then(() => (div.dataset.drawn = "1"));
  div.onclick = () => openDetail(h, sid, div);
  return div;
}

function closeDetail() {
  $("detail").hidden = true;
  if (state.opener) state.opener.focus();  // back where the user was
}

async function openDetail(h, sid, opener) {
  state.opener = opener;
  $("detail").hidden = false;
  $("close-detail").focus();
  $("detail-title").textContent = `#${h.rank + 1} ${h.name}: ${h.verified ? h.inliers + " matching points" : "object not found"}`;
  const [qimg, rimg] = await Promise.all([loadImage(`/api/searches/${sid}/query`), loadImage(`/api/images/${h.id}`)]);
  const m = h.verified ? (await api(`/api/searches/${sid}/hits/${h.rank}/matches`)).matches : [];
  const draw = () => {
    const c = $("detail-canvas"), ctx = c.getContext("2d");
    const H = 540, sq = H / qimg.naturalHeight, sr = H / rimg.naturalHeight;
    const wq = qimg.naturalWidth * sq, wr = rimg.naturalWidth * sr;
    c.width = Math.round(wq + wr + 20); c.height = H;
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, c.width, c.height);
    ctx.drawImage(qimg, 0, 0, wq, H);
    ctx.drawImage(rimg, wq + 20, 0, wr, H);
    const b = state.search.query.box;
    ctx.strokeStyle = "#3b7dd8"; ctx.lineWidth = 3; ctx.strokeRect(b[0] * sq, b[1] * sq, (b[2] - b[0]) * sq, (b[3] - b[1]) * sq);
    drawPolys(ctx, h.polygons, sr, "#f03c3c", "rgba(240,60,60,0.35)", wq + 20, 0);
    if ($("show-matches").checked) {
      ctx.lineWidth = 1;
      for (const [qx, qy, x, y] of m) {
        ctx.strokeStyle = "rgba(255,210,0,0.8)";
        ctx.beginPath(); ctx.moveTo(qx * sq, qy * sq); ctx.lineTo(wq + 20 + x * sr, y * sr); ctx.stroke();
      }
    }
    $("detail-canvas").dataset.matches = $("show-matches").checked ? m.length : 0;
  };
  $("show-matches").onchange = draw;
  draw();
}

// The detail view is modal: Esc closes it, Tab stays inside it.
function setupDialog() {
  $("close-detail").onclick = closeDetail;
  $("detail").addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") { ev.preventDefault(); closeDetail(); return; }
    if (ev.key !== "Tab") return;
    const f = [...$("detail").querySelectorAll("input, button")];
    const first = f[0], last = f[f.length - 1];
    if (ev.shiftKey && document.activeElement === first) { ev.preventDefault(); last.focus(); }
    else if (!ev.shiftKey && document.activeElement === last) { ev.preventDefault(); first.focus(); }
  });
  $("detail").addEventListener("click", (ev) => { if (ev.target === $("detail")) closeDetail(); });
}

// ---------------------------------------------------------------- benchmark mode
async function setupBench(b) {
  $("tab-bench").hidden = false;
  const d = await api("/api/benchmark/queries");
  const sel = $("bench-query");
  sel.replaceChildren(...d.queries.map((q) => {
    const o = document.createElement("option");  // names come from the benchmark's files: text, never markup
    o.value = q.index;
    o.textContent = `${q.index}: ${q.name} (${q.easy} easy, ${q.hard} hard)`;
    return o;
  }));
  sel.onchange = () => showBenchQuery(+sel.value);
  showBenchQuery(0);
}

async function showBenchQuery(q) {
  const d = await api(`/api/benchmark/queries/${q}?top=24`);
  const grid = $("bench-results");
  grid.innerHTML = "";
  const qimg = await loadImage(`/api/benchmark/queries/${q}/image?size=480`);
  const qc = document.createElement("div");
  qc.className = "tile verified";
  const c = document.createElement("canvas");
  const s = 240 / qimg.naturalWidth;
  c.width = 240; c.height = Math.round(qimg.naturalHeight * s);
  c.getContext("2d").drawImage(qimg, 0, 0, c.width, c.height);
  qc.append(c, Object.assign(document.createElement("div"), { textContent: "query " + d.query.name }));
  grid.appendChild(qc);
  loadImage(`/api/benchmark/queries/${q}/image`).then((big) => {
    const k = 240 / big.naturalWidth, b = d.query.box, ctx = c.getContext("2d");
    ctx.strokeStyle = "#3b7dd8"; ctx.lineWidth = 3;
    ctx.strokeRect(b[0] * k, b[1] * k, (b[2] - b[0]) * k, (b[3] - b[1]) * k);
  });
  for (const r of d.results) {
    const div = document.createElement("div");
    div.className = "tile " + r.status;
    div.dataset.status = r.status;
    const cv = document.createElement("canvas");
    div.append(cv, Object.assign(document.createElement("div"), { textContent: `#${r.rank + 1} ${r.status} ${r.name}` }));
    grid.appendChild(div);
    paintTile(cv, `/api/benchmark/images/${r.id}`, null, [
      [r.gt, "#3cc850", null],
      [r.pred, "#f03c3c", "rgba(240,60,60,0.35)"],
    ]);
  }
}

function switchTab(bench) {
  $("search-view").hidden = bench; $("bench-view").hidden = !bench;
  $("tab-search").classList.toggle("active", !bench); $("tab-bench").classList.toggle("active", bench);
}

// ---------------------------------------------------------------- start
async function main() {
  const info = await api("/api/info");
  $("info").textContent = `${info.images} images indexed (${info.config})`;
  setupDrawing();
  setupDialog();
  $("upload").onchange = (ev) => {
    const f = ev.target.files[0];
    if (!f) return;
    document.querySelectorAll("#thumbs .thumb").forEach((x) => x.classList.remove("sel"));
    setQuery({ file: f, url: URL.createObjectURL(f) });
  };
  $("prev").onclick = () => { if (state.page > 0) { state.page--; showThumbs(); } };
  $("next").onclick = () => { if ((state.page + 1) * state.perPage < state.total) { state.page++; showThumbs(); } };
  $("search-btn").onclick = doSearch;
  $("tab-search").onclick = () => switchTab(false);
  $("tab-bench").onclick = () => switchTab(true);
  await showThumbs();
  if (info.benchmark) setupBench(info.benchmark);
}

main();
