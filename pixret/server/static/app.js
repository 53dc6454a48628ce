// pixret page: pick or upload a query, draw a box, search, see the object's pixels.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { page: 0, perPage: 30, total: 0, query: null, box: null, search: null, drag: null };

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

// ---------------------------------------------------------------- query picking
async function showThumbs() {
  const d = await api(`/api/images?offset=${state.page * state.perPage}&limit=${state.perPage}`);
  state.total = d.total;
  $("thumbs").innerHTML = "";
  for (const im of d.images) {
    const t = document.createElement("img");
    t.src = `/api/images/${im.id}?size=160`;
    t.title = im.name;
    t.dataset.id = im.id;
    t.onclick = () => { document.querySelectorAll("#thumbs img").forEach((x) => x.classList.remove("sel"));
      t.classList.add("sel"); setQuery({ imageId: im.id, url: `/api/images/${im.id}` }); };
    $("thumbs").appendChild(t);
  }
  const pages = Math.max(1, Math.ceil(d.total / state.perPage));
  $("page").textContent = `${state.page + 1} / ${pages}`;
}

async function setQuery(q) {
  q.img = await loadImage(q.url);
  state.query = q; state.box = null;
  $("search-btn").disabled = true;
  $("box-text").textContent = "drag on the image to draw a box";
  drawQuery();
}

function queryScale() {
  const img = state.query.img;
  return Math.min(1, 640 / img.naturalWidth, 520 / img.naturalHeight);
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

function setupDrawing() {
  const c = $("query-canvas");
  c.addEventListener("mousedown", (ev) => { if (state.query) state.drag = canvasPoint(ev); });
  c.addEventListener("mousemove", (ev) => {
    if (!state.drag) return;
    const p = canvasPoint(ev), a = state.drag;
    state.box = [Math.min(a[0], p[0]), Math.min(a[1], p[1]), Math.max(a[0], p[0]), Math.max(a[1], p[1])];
    drawQuery();
  });
  window.addEventListener("mouseup", () => {
    if (!state.drag) return;
    state.drag = null;
    const b = state.box;
    const ok = b && b[2] - b[0] > 8 && b[3] - b[1] > 8;
    $("search-btn").disabled = !ok;
    $("box-text").textContent = ok ? `box ${b.map((v) => Math.round(v)).join(", ")}` : "box too small: drag again";
  });
}

// ---------------------------------------------------------------- search
async function doSearch() {
  const fd = new FormData();
  fd.append("box", state.box.map((v) => v.toFixed(1)).join(","));
  fd.append("top", "24");
  if (state.query.file) fd.append("file", state.query.file); else fd.append("image_id", state.query.imageId);
  $("status").textContent = "searching ...";
  $("results").innerHTML = "";
  try {
    const d = await api("/api/search", { method: "POST", body: fd });
    state.search = d;
    $("status").textContent = `${d.hits.filter((h) => h.verified).length} verified of ${d.hits.length} shown, ` +
      `${Math.round(d.timings.total * 1000)} ms`;
    drawQuery(d.support);
    d.hits.forEach((h) => $("results").appendChild(resultTile(h, d.search_id)));
  } catch (e) {
    $("status").textContent = "error: " + e.message;
  }
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
  const div = document.createElement("div");
  div.className = "tile" + (h.verified ? " verified" : "");
  div.dataset.verified = h.verified;
  div.dataset.rank = h.rank;
  const c = document.createElement("canvas");
  const cap = document.createElement("div");
  cap.textContent = `#${h.rank + 1} ${h.name} · ${h.verified ? h.inliers + " inliers" : "not verified"}`;
  div.append(c, cap);
  paintTile(c, `/api/images/${h.id}?size=480`, h.w, [
    [h.box_polygons, "#3b7dd8", null],
    [h.polygons, "#f03c3c", "rgba(240,60,60,0.40)"],
  ]).then(() => (div.dataset.drawn = "1"));
  div.onclick = () => openDetail(h, sid);
  return div;
}

async function openDetail(h, sid) {
  $("detail").hidden = false;
  $("detail-title").textContent = `#${h.rank + 1} ${h.name}: ${h.inliers} inliers`;
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
  $("upload").onchange = (ev) => {
    const f = ev.target.files[0];
    if (f) setQuery({ file: f, url: URL.createObjectURL(f) });
  };
  $("prev").onclick = () => { if (state.page > 0) { state.page--; showThumbs(); } };
  $("next").onclick = () => { if ((state.page + 1) * state.perPage < state.total) { state.page++; showThumbs(); } };
  $("search-btn").onclick = doSearch;
  $("close-detail").onclick = () => ($("detail").hidden = true);
  $("tab-search").onclick = () => switchTab(false);
  $("tab-bench").onclick = () => switchTab(true);
  await showThumbs();
  if (info.benchmark) setupBench(info.benchmark);
}

main();
