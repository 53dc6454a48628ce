// pixret page: pick or upload a query, draw a box, search, see the object's pixels.
"use strict";

const $ = (id) => document.getElementById(id);
const phone = window.matchMedia("(max-width: 700px)").matches;
const state = { page: 0, perPage: phone ? 12 : 30, total: 0, filter: "", query: null, box: null, search: null, drag: null, busy: false,
                seq: 0, opener: null, request: null, timer: null, gen: null, benchGen: null, benchSeq: 0, bench: null };
// Image ids mean something within one generation of the index: a rebuild or an `index --add`
// swapped in under the running server may give id 0 to another photo. Every address of an
// image carries the generation it came from (?gen=); the server answers 409 for an old one, and
// the page then says the index changed and offers to search again.
const CHECK_EVERY_MS = 4000;
// Photos straight from a camera (48-50 MP) are scaled down here before they are sent: the engine
// describes at most 1024 px of the box anyway, and 3072 px keeps a box of a third of the photo
// at full detail. The box stays in the photo's own pixels; only what is sent is scaled.
const MAX_SEND_SIDE = 3072, MAX_SEND_BYTES = 15 * 1024 * 1024;

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
  if (r.status === 409 && "generation" in body) checkGeneration();  // the index changed under this page
  if (!r.ok) throw new Error(body.detail || r.statusText);
  return body;
}

// ---------------------------------------------------------------- the index changing under the page
async function checkGeneration() {
  let info;
  try { info = await fetch("/api/info").then((r) => (r.ok ? r.json() : null)); } catch (e) { return; }
  if (!info) return;
  const bench = info.benchmark ? info.benchmark.generation : null;
  if (state.benchGen && bench !== state.benchGen) benchChanged(info.benchmark);
  if (state.gen && info.generation !== state.gen) indexChanged(info);
  else showInfo(info);
}

// The collection line, and while the server reads the index into memory (pixret serve warms it
// at start, and each new generation), how far it got: searches run meanwhile, slower.
function showInfo(info) {
  const w = info.warm || {};
  const warming = w.state === "warming" && w.total_bytes > 0 ?
    ` \u00b7 reading the index into memory: ${w.stage} ${Math.floor((100 * w.done_bytes) / w.total_bytes)}%` +
    " (searches run meanwhile, slower)" : "";
  $("info").textContent = `${info.images} images indexed (${info.config})${warming}`;
  if (warming && !state.warmPoll) {  // look again soon, not only at the page's usual pace
    state.warmPoll = setTimeout(() => { state.warmPoll = null; checkGeneration(); }, 1000);
  }
}

// The benchmark's results were replaced (or the server serves another benchmark): the view
// shows what the server serves now, and says so; its earlier ids are refused by the server.
function benchChanged(b) {
  if (!b) return staleNote("The server no longer serves a benchmark: reload the page.", false);
  state.benchGen = b.generation;
  $("bench-changed").textContent = "The benchmark's results changed on the server while this page was open: " +
    `the view now shows ${b.method ? visible(b.method) + "'s" : "the ground truth only, no method's"} predictions.`;
  $("bench-changed").hidden = false;
  setupBench(b, +$("bench-query").value || 0).catch(() => {});
}

// The index was rebuilt or swapped: the picker shows the new collection at once; results of the
// earlier index stay on screen, marked as such, with "Search again" (the same query and box).
function indexChanged(info) {
  state.gen = info.generation;
  showInfo(info);
  const q = state.query;
  if (q && q.imageId !== undefined && q.gen !== info.generation) toUpload(q);
  state.page = 0;
  showThumbs().catch(() => {});
  const stale = state.search && state.search.generation !== info.generation;
  if (stale) markStale(info);
  staleNote(`The index changed while this page was open (now ${info.images} images)` +
    (stale ? ": the results below come from the earlier index. Search again for results from the new one." : "; the collection shows it."),
    stale && !!state.box);
}

// Results of an earlier index stay on screen, faded, under a note of their own (which stays when
// the banner is dismissed), and the status line of their search goes.
function markStale(info) {
  $("results-panel").classList.add("stale");
  $("stale-results").textContent = `These results come from the earlier index, whose images are no longer served ` +
    `(it now holds ${info.images} images): search again for results from the new one.`;
  $("stale-results").hidden = false;
  $("status").textContent = "";
  $("status").dataset.stage = "stale";
}

function staleNote(text, canSearch) {
  $("index-changed-text").textContent = text;
  $("search-again").hidden = !canSearch;
  $("reload-page").hidden = canSearch;
  $("index-changed").hidden = false;
}

// A query picked from the collection of an earlier generation: its id names another image now,
// so the pixels already shown are sent as an upload (the box stays in the same pixels).
function toUpload(q) {
  const c = document.createElement("canvas");
  c.width = q.img.naturalWidth; c.height = q.img.naturalHeight;
  c.getContext("2d").drawImage(q.img, 0, 0);
  delete q.imageId;
  q.pending = new Promise((resolve) => c.toBlob((blob) => {
    if (blob) q.file = new File([blob], q.name + ".jpg", { type: "image/jpeg" });
    resolve();
  }, "image/jpeg", 0.95));
}

// ---------------------------------------------------------------- feedback
function showError(msg) {
  $("error").textContent = msg;
  $("error").hidden = !msg;
}

// ---------------------------------------------------------------- query picking
async function showThumbs() {
  const name = state.filter ? `&name=${encodeURIComponent(state.filter)}` : "";
  const d = await api(`/api/images?offset=${state.page * state.perPage}&limit=${state.perPage}${name}`);
  if (state.gen && d.generation !== state.gen) return checkGeneration();  // the index changed: show the new one
  state.gen = d.generation;
  state.total = d.total;
  $("thumbs-count").textContent = state.filter ? `${d.total} image${d.total === 1 ? "" : "s"} named like "${visible(state.filter)}"` : `${d.total} images`;
  const items = d.images.map((im) => {
    const b = document.createElement("button");  // a button: reachable and usable by keyboard
    b.className = "thumb";
    const name = visible(im.name);  // invisible and bidi characters shown as <U+XXXX> (names.js)
    b.title = name;  // the whole name, where the caption is cut
    b.dataset.id = im.id;
    const t = document.createElement("img");
    t.src = `${im.url}&size=160`;
    t.alt = `use ${name} as the query`;
    const cap = document.createElement("span");
    cap.className = "thumb-name";
    cap.textContent = name;  // names come from the collection: text, never markup
    b.append(t, cap);
    b.onclick = () => {
      document.querySelectorAll("#thumbs .thumb").forEach((x) => x.classList.remove("sel"));
      b.classList.add("sel");
      $("upload").value = "";  // the file field no longer names the query
      $("exclude-query").checked = true;  // a collection image would find itself first
      setQuery({ imageId: im.id, gen: d.generation, url: im.url, name: im.name });
    };
    return b;
  });
  $("thumbs").replaceChildren(...items);
  const pages = Math.max(1, Math.ceil(d.total / state.perPage));
  $("page").textContent = `${state.page + 1} / ${pages}`;
}

async function setQuery(q) {
  showError("");
  $("box-fields").disabled = true;  // until the new query is shown
  $("photo-note").hidden = true;
  try {
    q.img = await loadImage(q.url);
  } catch (e) {
    showError(`${q.file ? visible(q.file.name) : "this image"} could not be read as an image (JPEG, PNG, WebP, BMP or TIFF)`);
    return;
  }
  // w, h: the photo's own pixels (the box's); scale: pixels sent per photo pixel
  q.w = q.w || q.img.naturalWidth; q.h = q.h || q.img.naturalHeight; q.scale = q.scale || 1;
  state.query = q;
  setBox(null);
  $("box-fields").disabled = false;
  $("box-text").textContent = "drag on the image (or type the box) to mark the object";
  if (q.scale < 1) {
    $("photo-note").textContent = `${visible(q.name)}: ${q.w} × ${q.h} pixels (${(q.w * q.h / 1e6).toFixed(0)} MP), sent at ` +
      `${q.sentW} × ${q.sentH}; the box stays in the photo's own pixels.`;
    $("photo-note").hidden = false;
  }
  drawQuery();
}

// An uploaded file as the query: scaled down first when it is larger than the engine can use.
async function useFile(f) {
  showError("");
  $("box-fields").disabled = true;
  const url = URL.createObjectURL(f);
  let img;
  try { img = await loadImage(url); } catch (e) {
    showError(`${visible(f.name)} could not be read as an image (JPEG, PNG, WebP, BMP or TIFF)`);
    return;
  }
  const w = img.naturalWidth, h = img.naturalHeight, side = Math.max(w, h);
  if (side <= MAX_SEND_SIDE && f.size <= MAX_SEND_BYTES) return setQuery({ file: f, url, name: f.name, img });
  $("status").textContent = `scaling ${visible(f.name)} (${w} × ${h}) down to send it ...`;
  const k = Math.min(1, MAX_SEND_SIDE / side);
  const sw = Math.max(1, Math.round(w * k)), sh = Math.max(1, Math.round(h * k));
  const c = document.createElement("canvas");
  c.width = sw; c.height = sh;
  const ctx = c.getContext("2d");
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(img, 0, 0, sw, sh);  // the browser's own scaling (upright: EXIF applied on decode)
  URL.revokeObjectURL(url);
  const blob = await new Promise((resolve) => c.toBlob(resolve, "image/jpeg", 0.92));
  const sent = new File([blob], f.name.replace(/\.[^.]*$/, "") + ".jpg", { type: "image/jpeg" });
  $("status").textContent = "";
  await setQuery({ file: sent, url: URL.createObjectURL(blob), name: f.name, w, h, scale: sw / w, sentW: sw, sentH: sh });
}

// The box, in image pixels: drawn on the canvas, mirrored in the x1..y2 fields.
// a box to search with: more than 8 pixels each way
const boxOk = (b) => !!b && b[2] - b[0] > 8 && b[3] - b[1] > 8;

function setBox(b, fromFields = false) {
  state.box = b;
  const ok = boxOk(b);
  $("search-btn").disabled = !ok || state.busy;
  if (!fromFields) ["bx1", "by1", "bx2", "by2"].forEach((id, k) => ($(id).value = b ? Math.round(b[k]) : ""));
  if (b) $("box-text").textContent = ok ? `box ${b.map((v) => Math.round(v)).join(", ")}` : "box too small: drag again";
  drawQuery();
}

function boxFromFields() {
  const v = ["bx1", "by1", "bx2", "by2"].map((id) => parseFloat($(id).value));
  if (v.some((x) => !isFinite(x)) || !state.query) return setBox(null, true);
  const W = state.query.w, H = state.query.h;
  const c = (x, m) => Math.max(0, Math.min(m, x));
  setBox([c(Math.min(v[0], v[2]), W), c(Math.min(v[1], v[3]), H), c(Math.max(v[0], v[2]), W), c(Math.max(v[1], v[3]), H)], true);
}

// canvas pixels per pixel of the photo
function queryScale() {
  const q = state.query, avail = Math.min(640, $("query-wrap").parentElement.clientWidth || 640);
  return Math.min(1, avail / q.w, 520 / q.h);
}

// support: the object's outline the search found in the query, in pixels sent
function drawQuery(support) {
  const c = $("query-canvas"), ctx = c.getContext("2d");
  if (!state.query) return;
  const q = state.query, s = queryScale();
  c.width = Math.round(q.w * s); c.height = Math.round(q.h * s);
  ctx.drawImage(q.img, 0, 0, c.width, c.height);
  const b = state.box;
  if (b) {
    ctx.strokeStyle = "#3b7dd8"; ctx.lineWidth = 3;
    ctx.strokeRect(b[0] * s, b[1] * s, (b[2] - b[0]) * s, (b[3] - b[1]) * s);
  }
  if (support) drawPolys(ctx, support, s / q.scale, "#f03c3c", "rgba(240,60,60,0.25)");
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
  const follow = (ev) => {
    if (!state.drag) return;
    const p = canvasPoint(ev), a = state.drag;
    setBox([Math.min(a[0], p[0]), Math.min(a[1], p[1]), Math.max(a[0], p[0]), Math.max(a[1], p[1])]);
  };
  c.addEventListener("pointermove", follow);
  // the finger's last position too: browsers coalesce moves, and a quick drag may end between two
  const end = (ev) => { if (ev.type === "pointerup") follow(ev); state.drag = null; };
  c.addEventListener("pointerup", end);
  c.addEventListener("pointercancel", end);
  ["bx1", "by1", "bx2", "by2"].forEach((id) => $(id).addEventListener("input", boxFromFields));
  $("box-fields").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !$("search-btn").disabled) doSearch();
  });
}

// ---------------------------------------------------------------- search
// One POST; what the page can tell: sending the photo (with its share sent), then the server
// searching (features, shortlist, verification, masks: their times come with the answer), then
// drawing. Cancel drops the answer; the server finishes that search on its own.
function post(url, body, onSent) {
  const xhr = new XMLHttpRequest();
  const done = new Promise((resolve, reject) => {
    xhr.open("POST", url);
    xhr.responseType = "json";
    xhr.upload.onprogress = (ev) => { if (ev.lengthComputable) onSent(ev.loaded / ev.total); };
    xhr.upload.onload = () => onSent(1);
    xhr.onload = () => {
      const d = xhr.response || {};
      if (xhr.status >= 200 && xhr.status < 300) resolve(d);
      else reject(Object.assign(new Error(d.detail || xhr.statusText || `HTTP ${xhr.status}`), { status: xhr.status }));
    };
    xhr.onerror = () => reject(new Error("the server could not be reached"));
    xhr.onabort = () => { const e = new Error("cancelled"); e.cancelled = true; reject(e); };
  });
  xhr.send(body);
  return { done, abort: () => xhr.abort() };
}

function setStage(stage) {
  state.stage = stage;
  const t = ((performance.now() - state.started) / 1000).toFixed(1);
  $("status").textContent = `${stage} · ${t} s`;
  $("status").dataset.stage = stage.split(":")[0].split(" ")[0];
}

function finish() {
  clearInterval(state.timer);
  state.busy = false; state.request = null;
  $("cancel-btn").hidden = true;
  $("search-btn").disabled = !boxOk(state.box);
}

async function doSearch() {
  if (state.busy || !boxOk(state.box)) return;
  const seq = ++state.seq;  // a later search makes this one's answer out of date
  state.busy = true;
  $("search-btn").disabled = true;
  $("cancel-btn").hidden = false;
  showError("");
  const q = state.query, k = q.scale;
  if (q.pending) await q.pending;  // a collection image of an earlier index, being made an upload
  const fd = new FormData();
  fd.append("box", state.box.map((v) => Math.round(v * k)).join(","));  // in the pixels sent
  fd.append("top", "24");
  fd.append("exclude_query", $("exclude-query").checked ? "true" : "false");
  if (q.file) fd.append("file", q.file); else { fd.append("image_id", q.imageId); fd.append("gen", q.gen); }
  state.started = performance.now();
  const searching = "searching: features, shortlist, matching, verification, expansion, masks";
  setStage(q.file ? "sending the photo 0%" : searching);
  state.timer = setInterval(() => setStage(state.stage), 100);
  state.request = post("/api/search", fd, (share) => {
    if (seq === state.seq) setStage(share < 1 ? `sending the photo ${Math.round(share * 100)}%` : searching);
  });
  try {
    const d = await state.request.done;
    if (seq !== state.seq) return;
    setStage("drawing the results");
    d.query.scale = k;
    state.search = d;
    if (d.generation === state.gen) {
      $("index-changed").hidden = true; $("results-panel").classList.remove("stale"); $("stale-results").hidden = true;
    }
    else checkGeneration();  // searched on an index other than the one the page showed
    const all = (performance.now() - state.started) / 1000;
    finish();
    showResults(d, all);
  } catch (e) {
    if (seq !== state.seq) return;
    finish();
    if (e.cancelled) { $("status").textContent = "cancelled"; $("status").dataset.stage = "cancelled"; }
    else { showError("Search failed: " + e.message); $("status").textContent = ""; if (e.status === 409) checkGeneration(); }
  }
}

// "Search again" after the index changed: the query and box on screen, on the new index. A query
// picked since without its box yet cannot be searched: the banner stays and says what is missing.
function searchAgain() {
  if (!state.query || !boxOk(state.box)) {
    showError(state.query ? "Search again needs a box: draw one around the object on the query image (step 2)."
                          : "Search again needs a query: pick or upload an image (step 1), then draw a box.");
    $("query-panel").scrollIntoView({ block: "nearest" });
    return;
  }
  $("index-changed").hidden = true;
  doSearch();
}

function cancelSearch() {
  if (state.request) state.request.abort();
}

function showResults(d, all) {
  const found = d.hits.filter((h) => h.verified), others = d.hits.filter((h) => !h.verified);
  const tm = d.timings, ms = (v) => Math.round((v || 0) * 1000);
  // every stage the engine timed, in its order (features ... expansion, masks, results)
  const stages = Object.entries(tm).filter(([k]) => k !== "total").map(([k, v]) => `${k} ${ms(v)}`);
  $("status").textContent = `found in ${found.length} image${found.length === 1 ? "" : "s"} · ${all.toFixed(1)} s in all, ` +
    `${ms(tm.total)} ms searching (${stages.join(", ")} ms)` +
    (d.excluded && d.excluded.length ? " · the query image left out of the results" : "");
  $("status").dataset.stage = "done";
  drawQuery(d.support);
  $("results").replaceChildren(...found.map((h) => resultTile(h, d.search_id, d.generation)));
  $("no-match").hidden = found.length > 0;
  $("unverified").hidden = others.length === 0;
  $("unverified").open = false;
  $("unverified-summary").textContent = `${others.length} other candidate${others.length === 1 ? "" : "s"}: object not found in them`;
  $("unverified-grid").replaceChildren(...others.map((h) => resultTile(h, d.search_id, d.generation)));
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

function resultTile(h, sid, gen) {
  const div = document.createElement("button");  // focusable; Enter or a click opens the detail view
  div.className = "tile" + (h.verified ? " verified" : "");
  div.dataset.verified = h.verified;
  div.dataset.rank = h.rank;  // from 1, as in `pixret search --json`
  const what = h.verified ? `object found, ${h.inliers} inliers` : "object not found";
  const name = visible(h.name);
  div.setAttribute("aria-label", `result ${h.rank}: ${name}, ${what}`);
  const c = document.createElement("canvas");
  const cap = document.createElement("div");
  cap.className = "cap";
  cap.textContent = `#${h.rank} ${name} · ${what}`;
  div.append(c, cap);
  paintTile(c, `${h.url}&size=480`, h.size[0], [
    [h.box_polygons, "#3b7dd8", null],
    [h.polygons, "#f03c3c", "rgba(240,60,60,0.40)"],
  ]).then(() => (div.dataset.drawn = "1"), checkGeneration);
  div.onclick = () => gen !== state.gen ? showError(
    "This result comes from the earlier index, whose images are no longer served: search again to see the new index's results."
  ) : openDetail({
    title: `#${h.rank} ${name}: ${h.verified ? h.inliers + " inliers" : "object not found"}`,
    query: `/api/searches/${sid}/query`, box: state.search.query.box, image: h.url,
    layers: [[h.polygons, "#f03c3c", "rgba(240,60,60,0.35)"]],
    matches: h.verified ? () => api(`/api/searches/${sid}/hits/${h.rank - 1}/matches`).then((r) => r.matches) : null,
  }, div);
  return div;
}

function closeDetail() {
  $("detail").hidden = true;
  if (state.opener) state.opener.focus();  // back where the user was
}

// The detail view: the query (its box) and a result (polygon layers [polys, color, fill] in its
// pixels), side by side on a wide screen, one above the other on a phone; the inliers on demand.
async function openDetail(v, opener) {
  state.opener = opener;
  $("detail").hidden = false;
  $("close-detail").focus();
  $("detail-title").textContent = v.title;
  $("matches-toggle").hidden = !v.matches;
  $("detail-canvas").dataset.drawn = "";
  let qimg, rimg;
  try {
    [qimg, rimg] = await Promise.all([loadImage(v.query), loadImage(v.image)]);
  } catch (e) {  // an image of an earlier generation (a 409), or one gone from the disk: the server's line
    closeDetail();
    const why = await Promise.all([v.query, v.image].map((u) => fetch(u).then((r) => (r.ok ? null : r.json()))
      .then((b) => b && b.detail, () => null)));
    showError("This result's image cannot be shown: " + (why.find((w) => w) || e.message));
    return checkGeneration();
  }
  const m = v.matches ? await v.matches() : [];
  const draw = () => {
    const c = $("detail-canvas"), ctx = c.getContext("2d");
    const stacked = window.innerWidth < 700 || window.innerWidth < window.innerHeight;
    let sq, sr, ox, oy;  // scales, and the result's offset
    if (stacked) {
      const W = Math.min(900, window.innerWidth - 40);
      sq = W / qimg.naturalWidth; sr = W / rimg.naturalWidth;
      const hq = qimg.naturalHeight * sq;
      c.width = Math.round(W); c.height = Math.round(hq + 12 + rimg.naturalHeight * sr);
      ox = 0; oy = hq + 12;
    } else {
      const H = Math.min(540, window.innerHeight - 140);
      sq = H / qimg.naturalHeight; sr = H / rimg.naturalHeight;
      const wq = qimg.naturalWidth * sq;
      c.width = Math.round(wq + rimg.naturalWidth * sr + 20); c.height = Math.round(H);
      ox = wq + 20; oy = 0;
    }
    c.dataset.layout = stacked ? "stacked" : "side";
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, c.width, c.height);
    ctx.drawImage(qimg, 0, 0, qimg.naturalWidth * sq, qimg.naturalHeight * sq);
    ctx.drawImage(rimg, ox, oy, rimg.naturalWidth * sr, rimg.naturalHeight * sr);
    const b = v.box;
    ctx.strokeStyle = "#3b7dd8"; ctx.lineWidth = 3; ctx.strokeRect(b[0] * sq, b[1] * sq, (b[2] - b[0]) * sq, (b[3] - b[1]) * sq);
    for (const [polys, color, fill] of v.layers) drawPolys(ctx, polys, sr, color, fill, ox, oy);
    if ($("show-matches").checked) {
      ctx.lineWidth = 1;
      for (const [qx, qy, x, y] of m) {
        ctx.strokeStyle = "rgba(255,210,0,0.8)";
        ctx.beginPath(); ctx.moveTo(qx * sq, qy * sq); ctx.lineTo(ox + x * sr, oy + y * sr); ctx.stroke();
      }
    }
    c.dataset.matches = $("show-matches").checked ? m.length : 0;
    c.dataset.drawn = "1";
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
// The view names the method whose predictions it shows and marks an oracle (results built from
// the benchmark's labels: not a method). ``keep``: the query to show (after a change on the server).
async function setupBench(b, keep = 0) {
  $("tab-bench").hidden = false;
  const d = await api("/api/benchmark/queries");
  state.benchGen = d.generation;
  state.bench = { method: d.method, oracle: d.oracle };
  const line = $("bench-method");
  line.classList.toggle("oracle", !!d.oracle);
  line.replaceChildren();
  if (!d.method) line.textContent = "Ground truth only: no method's results were given (--results).";
  else {
    line.append("Predictions (red) of ", Object.assign(document.createElement("b"), { textContent: visible(d.method) }));
    if (d.oracle) line.append(" ", Object.assign(document.createElement("span"), { className: "badge", textContent: "oracle" }),
      ` not a method's predictions: built from the benchmark's labels (${visible(d.oracle)})`);
  }
  const sel = $("bench-query");
  sel.replaceChildren(...d.queries.map((q) => {
    const o = document.createElement("option");  // names come from the benchmark's files: text, never markup
    o.value = q.index;
    o.textContent = `${q.index}: ${visible(q.name)} (${q.easy} easy, ${q.hard} hard)`;
    return o;
  }));
  sel.value = String(keep < d.queries.length ? keep : 0);
  sel.onchange = () => showBenchQuery(+sel.value).catch(() => {});  // a 409 is handled by checkGeneration
  await showBenchQuery(+sel.value);
}

// What a benchmark result is worth: its mask IoU with the ground truth and the pixel mAP
// thresholds (50, 55, ..., 95) at which it counts as found (IoU above the threshold).
function worth(r, thresholds) {
  if (r.status === "junk") return "junk: ignored by the benchmark";
  if (r.status === "false") return "not the object: counts against";
  if (r.iou === null || r.iou === undefined) return "the object (no prediction scored)";
  const iou = Math.round(r.iou * 100), n = r.counts_at.length;
  const who = state.bench && state.bench.oracle ? "oracle " : "";  // an oracle's IoU is no method's
  if (!n) return `${who}IoU ${iou} · counts at no threshold`;
  const span = n === 1 ? `${r.counts_at[0]}` : `${r.counts_at[0]}–${r.counts_at[n - 1]}`;
  return `${who}IoU ${iou} · counts at ${span} (${n} of ${thresholds.length})`;
}

async function showBenchQuery(q) {
  const seq = ++state.benchSeq;  // a later choice (or a change on the server) makes this one out of date
  const d = await api(`/api/benchmark/queries/${q}?top=24&gen=${encodeURIComponent(state.benchGen)}`);
  const qimg = await loadImage(`${d.query.url}&size=480`);
  if (seq !== state.benchSeq) return;
  const grid = $("bench-results");
  grid.replaceChildren();
  grid.dataset.generation = d.generation;
  const qname = visible(d.query.name), method = d.method ? visible(d.method) + (d.oracle ? " (oracle)" : "") : "ground truth";
  const qc = document.createElement("div");
  qc.className = "tile verified";
  const c = document.createElement("canvas");
  const s = 240 / qimg.naturalWidth;
  c.width = 240; c.height = Math.round(qimg.naturalHeight * s);
  c.getContext("2d").drawImage(qimg, 0, 0, c.width, c.height);
  qc.append(c, Object.assign(document.createElement("div"), { className: "cap", textContent: "query " + qname }));
  grid.appendChild(qc);
  loadImage(d.query.url).then((big) => {
    const k = 240 / big.naturalWidth, b = d.query.box, ctx = c.getContext("2d");
    ctx.strokeStyle = "#3b7dd8"; ctx.lineWidth = 3;
    ctx.strokeRect(b[0] * k, b[1] * k, (b[2] - b[0]) * k, (b[3] - b[1]) * k);
  }, checkGeneration);
  for (const r of d.results) {
    const div = document.createElement("button");  // focusable; Enter or a click opens the detail view
    div.className = "tile " + r.status;
    div.dataset.status = r.status;
    div.dataset.iou = r.iou ?? "";
    const cv = document.createElement("canvas");
    const value = worth(r, d.thresholds), name = visible(r.name);
    const cap = document.createElement("div");
    cap.className = "cap";
    cap.append(Object.assign(document.createElement("div"), { textContent: `#${r.rank + 1} ${r.status} ${name}` }),
               Object.assign(document.createElement("div"), { className: "worth", textContent: value }));
    div.append(cv, cap);
    div.setAttribute("aria-label", `result ${r.rank + 1}: ${name}, ${r.status}; ${value}`);
    grid.appendChild(div);
    const layers = [[r.gt, "#3cc850", null], [r.pred, "#f03c3c", "rgba(240,60,60,0.35)"]];
    paintTile(cv, r.url, null, layers).then(() => (div.dataset.drawn = "1"), checkGeneration);
    div.onclick = () => openDetail({
      title: `${method}: query ${qname}, #${r.rank + 1} ${name} (${r.status}): ${value}`,
      query: d.query.url, box: d.query.box, image: r.url,
      layers, matches: null,
    }, div);
  }
}

function switchTab(bench) {
  $("search-view").hidden = bench; $("bench-view").hidden = !bench;
  $("tab-search").classList.toggle("active", !bench); $("tab-bench").classList.toggle("active", bench);
}

// ---------------------------------------------------------------- start
async function main() {
  const info = await api("/api/info");
  state.gen = info.generation;
  showInfo(info);
  $("search-again").onclick = searchAgain;
  $("reload-page").onclick = () => location.reload();
  // the index may change under the page: look now and then (one small GET), and when it is shown again
  setInterval(() => { if (document.visibilityState === "visible") checkGeneration(); }, CHECK_EVERY_MS);
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") checkGeneration(); });
  setupDrawing();
  setupDialog();
  $("upload").onchange = (ev) => {
    const f = ev.target.files[0];
    if (!f) return;
    document.querySelectorAll("#thumbs .thumb").forEach((x) => x.classList.remove("sel"));
    $("exclude-query").checked = false;  // a photo of one's own: nothing to leave out, unless asked
    useFile(f);
  };
  let typing = null;
  $("filter").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => { state.filter = $("filter").value.trim(); state.page = 0; showThumbs(); }, 250);
  });
  $("cancel-btn").onclick = cancelSearch;
  $("prev").onclick = () => { if (state.page > 0) { state.page--; showThumbs(); } };
  $("next").onclick = () => { if ((state.page + 1) * state.perPage < state.total) { state.page++; showThumbs(); } };
  $("search-btn").onclick = doSearch;
  $("tab-search").onclick = () => switchTab(false);
  $("tab-bench").onclick = () => switchTab(true);
  await showThumbs();
  if (info.benchmark) setupBench(info.benchmark).catch((e) => showError("The benchmark could not be shown: " + e.message));
}

main();
