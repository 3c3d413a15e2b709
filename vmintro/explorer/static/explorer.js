// vmintro explorer: draws the numbers vmintro computed (vmintro/explorer/data.py).
// It decides nothing about the kernel: areas, frames, owners, free lists and walks
// all come in the document. Text from the image only ever reaches the page through
// textContent and setAttribute, never as markup.

const SVG = "http://www.w3.org/2000/svg";
const OWNER_COLOURS = {
  pagetable: "#8c4fb0", module: "#f28e2b", vmalloc: "#4e79a7", ioremap: "#76b7b2",
  slab: "#edc948", reserved: "#9c9c9c", used: "#e8c8b8",
};
const FREE_LIGHT = [0xd8, 0xf0, 0xd0];
const FREE_DARK = [0x2a, 0x7a, 0x2a];

const $ = (id) => document.getElementById(id);
const hex = (n) => n.toString(16);

function el(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== null) node.textContent = text;
  return node;
}

function size(bytes) {
  const units = [[1 << 30, "GiB"], [1 << 20, "MiB"], [1 << 10, "KiB"]];
  for (const [u, name] of units) if (bytes >= u) return `${+(bytes / u).toFixed(1)} ${name}`;
  return `${bytes} B`;
}

function freeColour(order) {
  const t = Math.min(Math.max(order, 0), 9) / 9;
  const c = FREE_LIGHT.map((a, i) => Math.round(a + (FREE_DARK[i] - a) * t));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

// ---- state ------------------------------------------------------------------

const state = {
  doc: null,        // the document the page started from
  snap: null,       // the snapshot of the moment shown
  moment: null,     // its entry number (null: the image, no timeline)
  view: [0, 0],     // the zoomed window of the address space [lo, hi)
  selected: null,   // the selected area's address
  walkAddr: null,   // the address of the last walk, walked again at another moment
  walkFrame: null,  // the frame of the last walk
  walkTables: [],   // the frames of the tables that walk read
  buddyOrder: null, // the free-list order picked in the buddy view
  physZoom: false,  // physical memory shown around the selected area's frames only
  drag: null,       // where a drag of the address-space strip started, and its view then
  dragged: false,   // whether the mouse moved since: then a click selects nothing
  pending: null,    // the moment asked for last
  snapshots: new Map(),
};

function status(text, error = false) {
  const s = $("status");
  s.textContent = text;
  s.classList.toggle("error", error);
}

async function getJSON(url) {
  const reply = await fetch(url);
  const body = await reply.text();
  if (!reply.ok) throw new Error(body.trim() || `${reply.status}`);
  return JSON.parse(body);
}

// ---- the address space ----------------------------------------------------------

function areaEnd(a) { return a.addr + a.size; }

function vmallocView(snap) {
  const v = snap.layout.vmalloc_start;
  const last = snap.areas.reduce((m, a) => Math.max(m, areaEnd(a)), v + (1 << 20));
  const mib = 1 << 20;
  return [v, Math.min(Math.ceil(last / mib) * mib, snap.layout.vmalloc_end)];
}

function setView(lo, hi) {
  const min = state.snap.layout.page_offset;
  const max = 2 ** 32;
  const width = Math.round(Math.max(hi - lo, 4 * 4096)); // whole bytes: hex addresses
  lo = Math.round(Math.max(min, Math.min(lo, max - width)));
  state.view = [lo, Math.min(max, lo + width)];
  drawSpace();
}

function zoom(factor, centre = null) {
  const [lo, hi] = state.view;
  const c = centre === null ? (lo + hi) / 2 : centre;
  setView(c - (c - lo) * factor, c + (hi - c) * factor);
}

function drawOverview() {
  const snap = state.snap;
  const root = $("overview");
  root.replaceChildren();
  const lo = snap.layout.page_offset, span = 2 ** 32 - lo;
  const x = (a) => ((a - lo) / span) * 1000;
  for (const r of snap.regions) {
    const rect = svg("rect", { x: x(r.start), y: 0, width: Math.max(x(r.end) - x(r.start), 0.5),
      height: 28, class: `region region-${r.kind}` });
    rect.appendChild(svg("title", {}, `${r.name} ${hex(r.start)}-${hex(r.end - 1)} (${size(r.end - r.start)})`));
    rect.addEventListener("click", () => setView(r.start, r.end));
    root.appendChild(rect);
  }
  for (const a of snap.areas) {
    root.appendChild(svg("rect", { x: x(a.addr), y: 8, width: Math.max(x(areaEnd(a)) - x(a.addr), 0.3),
      height: 12, class: `area kind-${a.kind}` }));
  }
  const [vlo, vhi] = state.view;
  root.appendChild(svg("rect", { x: x(vlo), y: 1, width: Math.max(x(vhi) - x(vlo), 1), height: 26, class: "brush" }));
}

function drawSpace() {
  const snap = state.snap;
  drawOverview();
  const root = $("space-map");
  root.replaceChildren();
  const [lo, hi] = state.view;
  const X = (a) => ((Math.min(Math.max(a, lo), hi) - lo) / (hi - lo)) * 1000;
  const wide = (a, b) => Math.max(X(b) - X(a), 1);
  $("view-range").textContent = `${hex(lo)} – ${hex(hi - 1)} (${size(hi - lo)})`;
  for (const r of snap.regions) {
    if (r.end <= lo || r.start >= hi) continue;
    const rect = svg("rect", { x: X(r.start), y: 0, width: wide(r.start, r.end), height: 56,
      class: `region region-${r.kind}`, "data-region": r.kind });
    rect.appendChild(svg("title", {}, `${r.name} ${hex(r.start)}-${hex(r.end - 1)}`));
    root.appendChild(rect);
    if (wide(r.start, r.end) > 60) root.appendChild(svg("text", { x: X(r.start) + 3, y: 52, class: "label" }, r.name));
  }
  for (const a of snap.areas) {
    if (areaEnd(a) <= lo || a.addr >= hi) continue;
    const g = svg("g", {});
    const rect = svg("rect", { x: X(a.addr), y: 6, width: wide(a.addr, a.guard), height: 36,
      class: `area kind-${a.kind}`, "data-addr": hex(a.addr), "data-end": hex(areaEnd(a)) });
    if (a.addr === state.selected) rect.classList.add("selected");
    if (changedAreas().has(a.addr)) rect.classList.add("changed");
    g.appendChild(rect);
    g.appendChild(svg("rect", { x: X(a.guard), y: 6, width: wide(a.guard, areaEnd(a)), height: 36,
      class: "guard", "data-guard": hex(a.guard) }));
    if (wide(a.addr, a.guard) > 50) {
      g.appendChild(svg("text", { x: X(a.addr) + 3, y: 28, class: "label" }, a.owner));
    }
    rect.addEventListener("mousemove", (e) => showTip(e, areaTip(a)));
    rect.addEventListener("mouseleave", hideTip);
    rect.addEventListener("click", () => { if (!state.dragged) selectArea(a.addr); });
    root.appendChild(g);
  }
  for (let i = 0; i <= 4; i++) {
    const a = lo + ((hi - lo) * i) / 4;
    const anchor = i === 0 ? "start" : i === 4 ? "end" : "middle";
    root.appendChild(svg("text", { x: i * 250, y: 72, class: "tick", "text-anchor": anchor }, hex(Math.floor(a))));
  }
}

function areaTip(a) {
  const pages = a.pages.length;
  return [
    `vm_struct ${hex(a.vm_struct)}`,
    `owner     ${a.owner}`,
    `addr      ${hex(a.addr)}-${hex(areaEnd(a))}`,
    `size      ${a.size} (${pages} pages + guard page ${hex(a.guard)})`,
    `flags     ${hex(a.flags)} ${a.flag_names.join("|")}`,
  ].join("\n");
}

function showTip(event, text) {
  const tip = $("tip");
  tip.textContent = text;
  tip.hidden = false;
  tip.style.left = `${event.clientX + 12}px`;
  tip.style.top = `${event.clientY + 12}px`;
}

function hideTip() { $("tip").hidden = true; }

function drawAreaTable() {
  const body = $("area-table").tBodies[0];
  body.replaceChildren();
  const changed = changedAreas();
  for (const a of state.snap.areas) {
    const tr = el("tr", { "data-addr": hex(a.addr) });
    const cells = [hex(a.vm_struct), hex(a.addr), hex(areaEnd(a)), String(a.size),
      String(a.pages.length), a.owner, a.flag_names.join("|")];
    cells.forEach((c, i) => tr.appendChild(el("td", i >= 5 ? { class: "text" } : {}, c)));
    if (a.addr === state.selected) tr.classList.add("selected");
    if (changed.has(a.addr)) tr.classList.add("changed");
    tr.addEventListener("click", () => selectArea(a.addr));
    body.appendChild(tr);
  }
  const row = body.querySelector("tr.selected");
  if (row) {  // the selected area's row in sight, within its own scrolling box
    const box = $("area-scroll");
    if (row.offsetTop < box.scrollTop || row.offsetTop > box.scrollTop + box.clientHeight - 20) {
      box.scrollTop = row.offsetTop - box.clientHeight / 2;
    }
  }
}

function selectedArea() {
  return state.snap.areas.find((a) => a.addr === state.selected) || null;
}

function selectArea(addr) {
  state.selected = addr;
  const a = selectedArea();
  if (a && (a.addr < state.view[0] || areaEnd(a) > state.view[1])) {
    const [lo, hi] = state.view;
    if (areaEnd(a) - a.addr > hi - lo) setView(a.addr, areaEnd(a));
    else setView(a.addr - (hi - lo) / 2, a.addr + (hi - lo) / 2);
  } else drawSpace();
  drawAreaTable();
  drawPages();
  drawFrames();
}

function zoneName(index) {
  const z = state.snap.zones.find((z) => z.index === index);
  return z ? z.name : "";
}

function drawPages() {
  const a = selectedArea();
  const body = $("page-table").tBodies[0];
  body.replaceChildren();
  $("pages-of").textContent = a ? `${a.owner} at ${hex(a.addr)} (${a.pages.length} pages)` : "no area selected";
  if (!a) return;
  for (const [va, pfn, zone] of a.pages) {
    const tr = el("tr", { "data-virtual": hex(va), "data-pfn": pfn === null ? "" : hex(pfn) });
    tr.appendChild(el("td", {}, hex(va)));
    tr.appendChild(el("td", {}, pfn === null ? "(not mapped)" : hex(pfn)));
    tr.appendChild(el("td", { class: "text" }, zone === null ? "" : zoneName(zone)));
    tr.addEventListener("click", () => walk(hex(va)));
    body.appendChild(tr);
  }
}

// ---- the page walk --------------------------------------------------------------

function levelBox(cls, name, text) {
  const box = el("div", { class: `level ${cls}` });
  box.appendChild(el("span", { class: "name" }, name));
  box.appendChild(document.createTextNode(text));
  return box;
}

function arrow() { return el("div", { class: "arrow" }, "↓"); }

function drawWalk(doc) {
  const levels = $("walk-levels");
  levels.replaceChildren();
  $("walk-error").textContent = doc.error || "";
  const walkPart = doc.results.find((r) => r.name === "walk");
  $("walk-text").textContent = walkPart ? walkPart.text : "";
  state.walkFrame = null;
  state.walkTables = [];
  if (walkPart) {
    const w = walkPart.data;
    levels.appendChild(levelBox("", "PAGE DIRECTORY", `${hex(w.page_directory)} (physical)`));
    state.walkTables.push(Math.floor(w.page_directory / state.snap.page_size));
    for (const s of w.steps) {
      levels.appendChild(arrow());
      const where = s.entry_vaddr === null ? `${hex(s.entry_paddr)} (phys)` : hex(s.entry_vaddr);
      levels.appendChild(levelBox("", `${s.level.toUpperCase()}[${s.index}]`,
        `at ${where} => ${hex(s.value)}  ${s.flags.join("|")}${s.large ? "  large page" : ""}`));
      state.walkTables.push(Math.floor(s.entry_paddr / state.snap.page_size));
    }
    if (w.fault) {
      levels.appendChild(arrow());
      levels.appendChild(levelBox("fault", "FAULT", w.fault));
    } else if (w.page !== null) {
      levels.appendChild(arrow());
      levels.appendChild(levelBox("page", "PAGE", `${hex(w.page)} (${size(w.page_size)} frame)`));
      state.walkFrame = Math.floor(w.page / state.snap.page_size);
    }
  }
  const page = doc.results.find((r) => r.name === "page");
  if (page && page.rows.length) {
    const p = page.rows[0];
    levels.appendChild(arrow());
    levels.appendChild(levelBox("struct", "struct page",
      `${hex(p.page)}  pfn ${hex(p.pfn)}  count ${p.count}  flags ${hex(p.flags)} ` +
      `(${p.flag_names.join("|") || "none"})  zone ${p.zone}  mapping ${hex(p.mapping)}  index ${p.index}`));
  }
  const note = doc.results.find((r) => r.name === "note");
  if (note) levels.appendChild(levelBox("fault", "note", note.text));
  drawFrames();
}

async function walk(text) {
  $("walk-addr").value = text;
  state.walkAddr = text;
  const clean = text.trim().toLowerCase().replace(/^0x/, "");
  if (!/^[0-9a-f]{1,8}$/.test(clean)) {
    $("walk-error").textContent = `not a hex address: ${text}`;
    return;
  }
  try {
    let doc;
    const t = state.doc.timeline;
    if (state.doc.mode === "file" && t && state.moment !== t.last) {
      drawWalk({ error: `this file holds the walks of the image itself (entry ${t.last}); ` +
        `'vmintro serve' walks any moment`, results: [] });
      return;
    }
    if (state.doc.mode === "file") {
      const page = (parseInt(clean, 16) - (parseInt(clean, 16) % state.snap.page_size));
      doc = state.doc.walks[hex(page)];
      if (!doc) {
        $("walk-error").textContent = `this file holds the walks of the vm areas' pages only; ` +
          `'vmintro serve' walks any address`;
        return;
      }
    } else {
      const at = state.moment === null ? "" : `&at=${state.moment}`;
      doc = await getJSON(`api/vtop?addr=${clean}${at}`);
    }
    drawWalk(doc);
  } catch (e) {
    $("walk-error").textContent = String(e.message || e);
  }
}

// ---- physical memory ------------------------------------------------------------

function physRange() {
  // all frames, or those around the selected area's (a whole number of 32-frame rows)
  const a = selectedArea();
  const pfns = a && state.physZoom ? a.pages.map((p) => p[1]).filter((p) => p !== null && p < state.snap.frames.frames) : [];
  if (!pfns.length) return [0, Infinity];
  const lo = Math.max(0, Math.floor((Math.min(...pfns) - 64) / 32) * 32);
  return [lo, Math.max(Math.ceil((Math.max(...pfns) + 65) / 32) * 32, lo + 512)];
}

function frameLayout() {
  const [lo, hi] = physRange();
  const spans = [];
  for (const z of state.snap.zones) {
    const first = Math.max(z.start_mapnr, lo), end = Math.min(z.start_mapnr + z.size, hi);
    if (first < end) spans.push([z, first, end]);
  }
  const frames = spans.reduce((n, [, first, end]) => n + end - first, 0);
  // about 1024 pixels a row: bigger cells for fewer frames, one pixel a frame from 64k
  const cols = frames <= 4096 ? 128 : frames <= 65536 ? 256 : 1024;
  const cell = frames <= 4096 ? 8 : frames <= 65536 ? 4 : 1;
  const gap = 16;
  let y = 0;
  const zones = [];
  for (const [z, first, end] of spans) {
    const rows = Math.ceil((end - first) / cols);
    zones.push({ zone: z, y: y + gap, rows, first, end, whole: end - first === z.size });
    y += gap + rows * cell + 4;
  }
  return { cols, cell, gap, zones, height: Math.max(y, 1) };
}

function frameXY(L, pfn) {
  const z = L.zones.find((z) => pfn >= z.first && pfn < z.end);
  if (!z) return null;
  const i = pfn - z.first;
  return [(i % L.cols) * L.cell, z.y + Math.floor(i / L.cols) * L.cell];
}

function ownerColour(code, order) {
  const name = state.snap.frames.owners[code];
  return name === "free" ? freeColour(order) : OWNER_COLOURS[name] || "#fff";
}

function drawFrames() {
  if (!state.snap) return;
  const L = frameLayout();
  const canvas = $("frames");
  canvas.width = L.cols * L.cell;
  canvas.height = L.height;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.font = "11px system-ui, sans-serif";
  for (const z of L.zones) {
    ctx.fillStyle = "#1d2330";
    const what = z.whole ? `${z.zone.size} frames, ${z.zone.free} free` : `of ${z.zone.size}, around the selected area`;
    ctx.fillText(`${z.zone.name}: pfn ${hex(z.first)}-${hex(z.end - 1)} (${what})`, 2, z.y - 4);
  }
  for (const [first, count, code, order] of state.snap.frames.runs) {
    ctx.fillStyle = ownerColour(code, order);
    const dim = state.buddyOrder !== null && !(state.snap.frames.owners[code] === "free" && order === state.buddyOrder);
    if (dim) ctx.globalAlpha = 0.25;
    for (const zone of L.zones) {  // the part of the run in each zone drawn, row by row
      const end = Math.min(first + count, zone.end);
      for (let pfn = Math.max(first, zone.first); pfn < end;) {
        const xy = frameXY(L, pfn);
        const n = Math.min(L.cols - ((pfn - zone.first) % L.cols), end - pfn);
        ctx.fillRect(xy[0], xy[1], n * L.cell, L.cell);
        pfn += n;
      }
    }
    ctx.globalAlpha = 1;
  }
  // marked frames are filled, and ringed so that one frame among a million shows
  const mark = (pfns, colour) => {
    ctx.fillStyle = colour;
    ctx.strokeStyle = colour;
    ctx.lineWidth = 1;
    for (const pfn of pfns) {
      const xy = frameXY(L, pfn);
      if (!xy) continue;
      ctx.fillRect(xy[0], xy[1], L.cell, L.cell);
      ctx.strokeRect(xy[0] - 1.5, xy[1] - 1.5, L.cell + 3, L.cell + 3);
    }
  };
  const a = selectedArea();
  if (a) mark(a.pages.map((p) => p[1]).filter((p) => p !== null), "#d62728");
  if (state.snap.entry) mark(state.snap.entry.frames, "#c000c0");
  if (state.walkFrame !== null) mark([state.walkFrame, ...state.walkTables], "#000");
  drawLegend();
}

function frameAt(event) {
  const canvas = $("frames");
  const L = frameLayout();
  const box = canvas.getBoundingClientRect();
  const x = ((event.clientX - box.left) * canvas.width) / box.width;
  const y = ((event.clientY - box.top) * canvas.height) / box.height;
  for (const z of L.zones) {
    const row = Math.floor((y - z.y) / L.cell);
    const col = Math.floor(x / L.cell);
    if (row < 0 || row >= z.rows || col < 0 || col >= L.cols) continue;
    const pfn = z.first + row * L.cols + col;
    if (pfn < z.end) return pfn;
  }
  return null;
}

function ownerOf(pfn) {
  const runs = state.snap.frames.runs;
  let lo = 0, hi = runs.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [first, count] = runs[mid];
    if (pfn < first) hi = mid - 1;
    else if (pfn >= first + count) lo = mid + 1;
    else return runs[mid];
  }
  return null;
}

function areaOfFrame(pfn) {
  for (const a of state.snap.areas) {
    const page = a.pages.find((p) => p[1] === pfn);
    if (page) return [a, page[0]];
  }
  return null;
}

function describeFrame(event) {
  const pfn = frameAt(event);
  if (pfn === null) { $("frame-info").textContent = "\u00a0"; return; }
  const run = ownerOf(pfn);
  let text = `pfn ${hex(pfn)}  physical ${hex(pfn * state.snap.page_size)}`;
  if (run) {
    const owner = state.snap.frames.owners[run[2]];
    text += `  ${owner}${owner === "free" ? ` (order ${run[3]} block)` : ""}`;
  }
  const area = areaOfFrame(pfn);
  if (area) text += `  behind ${hex(area[1])} of ${area[0].owner}`;
  $("frame-info").textContent = text;
}

function clickFrame(event) {
  const pfn = frameAt(event);
  if (pfn === null) return;
  const area = areaOfFrame(pfn);
  if (area) {
    selectArea(area[0].addr);
    walk(hex(area[1]));
  }
}

function drawLegend() {
  const ul = $("legend");
  ul.replaceChildren();
  const item = (colour, text) => {
    const li = el("li");
    const sw = el("span", { class: "swatch" });
    sw.style.background = colour;
    li.appendChild(sw);
    li.appendChild(document.createTextNode(text));
    ul.appendChild(li);
  };
  item(`linear-gradient(90deg, ${freeColour(0)}, ${freeColour(9)})`, "free (order 0 → 9)");
  for (const name of state.snap.frames.owners) if (name !== "free") item(OWNER_COLOURS[name], name);
  const sel = el("li");
  const box = el("span", { class: "swatch" });
  box.style.border = "2px solid #d62728";
  sel.appendChild(box);
  sel.appendChild(document.createTextNode("frames of the selected area (black: the walk's)"));
  ul.appendChild(sel);
  if (state.snap.entry) {
    const wrote = el("li");
    const ring = el("span", { class: "swatch" });
    ring.style.border = "2px solid #c000c0";
    wrote.appendChild(ring);
    wrote.appendChild(document.createTextNode("frames this entry wrote"));
    ul.appendChild(wrote);
  }
}

// ---- buddy free lists ---------------------------------------------------------

function drawBuddy() {
  const root = $("buddy-zones");
  root.replaceChildren();
  for (const z of state.snap.zones) {
    const table = el("table", { class: "zone-table", "data-zone": z.name });
    table.appendChild(el("caption", {}, `${z.name}: ${z.free} of ${z.size} pages free`));
    const head = el("tr");
    for (const h of ["order", "block", "blocks", "pages", ""]) head.appendChild(el("th", {}, h));
    table.appendChild(el("thead")).appendChild(head);
    const body = table.appendChild(el("tbody"));
    const most = Math.max(1, ...z.free_area.map((f) => f.pages));
    for (const f of z.free_area) {
      const tr = el("tr", { "data-order": String(f.order) });
      if (state.buddyOrder === f.order) tr.classList.add("selected");
      tr.appendChild(el("td", {}, String(f.order)));
      tr.appendChild(el("td", {}, `${f.size}k`));
      tr.appendChild(el("td", {}, String(f.blocks)));
      tr.appendChild(el("td", {}, String(f.pages)));
      const cell = el("td");
      const bar = svg("svg", { width: 120, height: 10 });
      bar.appendChild(svg("rect", { class: "bar", x: 0, y: 1, height: 8, width: (120 * f.pages) / most }));
      cell.appendChild(bar);
      tr.appendChild(cell);
      tr.addEventListener("click", () => {
        state.buddyOrder = state.buddyOrder === f.order ? null : f.order;
        drawBuddy();
        drawFrames();
      });
      body.appendChild(tr);
    }
    root.appendChild(table);
  }
}

// ---- the timeline -----------------------------------------------------------------

function changedAreas() {
  const e = state.snap && state.snap.entry;
  return new Set(e ? e.areas : []);
}

async function snapshotAt(n) {
  if (state.doc.mode === "file") return state.doc.moments[String(n)];
  // the promise is kept: a step to a moment being fetched ahead waits for that fetch
  if (!state.snapshots.has(n)) {
    const asked = getJSON(`api/snapshot?at=${n}`);
    state.snapshots.set(n, asked);
    asked.catch(() => state.snapshots.delete(n));
  }
  return state.snapshots.get(n);
}

async function goTo(n) {
  const t = state.doc.timeline;
  const started = performance.now();
  n = Math.max(0, Math.min(n, t.last));
  try {
    const snap = await snapshotAt(n);
    if (!snap) throw new Error(`entry ${n} is not in this file`);
    if (Number($("tl-slider").value) !== n && state.pending !== n) return; // overtaken
    state.moment = n;
    show(snap);
    if (state.walkAddr !== null) await walk(state.walkAddr);
    if (!snap.errors.length) status(`entry ${n} of ${t.last}`);
    // what benchmarks/bench_explorer.py reads: the last move, asked to drawn
    document.body.dataset.moment = String(n);
    document.body.dataset.stepMs = String(performance.now() - started);
    if (state.doc.mode !== "file") {  // the next steps either way, asked for ahead
      for (const near of [n - 1, n + 1, n - 2, n + 2]) {
        if (near >= 0 && near <= t.last) snapshotAt(near).catch(() => {});
      }
    }
  } catch (e) {
    status(String(e.message || e), true);
  }
}

// the moment a step goes on from: the one asked for last, though its snapshot may still be on
// its way (a second key press while the first's moment is fetched moves on again, as the slider)
function asked() {
  return state.pending === null ? state.moment : state.pending;
}

function step(n) {
  state.pending = n;
  $("tl-slider").value = String(n);
  goTo(n);
}

function drawTimeline() {
  const t = state.doc.timeline;
  if (!t) return;
  $("timeline").hidden = false;
  const slider = $("tl-slider");
  slider.max = String(t.last);
  slider.value = String(state.moment);
  $("tl-number").textContent = `${state.moment} / ${t.last}`;
  const e = state.snap.entry;
  let text = "";
  if (e) {
    text = `entry ${e.entry} (step ${e.step}): ${e.text}${e.result ? ` = ${e.result}` : ""}`;
    text += e.writes === null ? " (its writes are not itemized)" : `, ${e.writes} writes to ${e.frames.length} frames`;
    if (e.areas.length) text += `; added ${e.areas.map(hex).join(", ")}`;
    if (e.removed.length) text += `; removed ${e.removed.map(([a, s]) => `${hex(a)} (${s} bytes)`).join(", ")}`;
  }
  $("tl-call").textContent = text;
  const ul = $("tl-paths");
  ul.replaceChildren();
  for (const [path, writes] of e ? e.paths : []) ul.appendChild(el("li", {}, `${path}  (${writes} writes)`));
}

// ---- putting it together ----------------------------------------------------------

function show(snap) {
  state.snap = snap;
  if (state.view[1] === 0) state.view = vmallocView(snap);
  if (state.selected !== null && !selectedArea()) state.selected = null;
  $("title").textContent = `vmintro explorer: ${snap.title}`;
  $("facts").textContent = `Linux ${snap.osrelease} i386, ${size(snap.ram_size)} RAM, ` +
    `${snap.paging} paging${snap.highmem ? ", HIGHMEM" : ""}; PAGE_OFFSET ${hex(snap.layout.page_offset)}, ` +
    `VMALLOC ${hex(snap.layout.vmalloc_start)}-${hex(snap.layout.vmalloc_end)}`;
  drawSpace();
  drawAreaTable();
  drawPages();
  drawBuddy();
  drawFrames();
  drawTimeline();
  if (snap.errors.length) status(snap.errors.join("; "), true);
}

function wire() {
  $("zoom-all").addEventListener("click", () => setView(state.snap.layout.page_offset, 2 ** 32));
  $("zoom-vmalloc").addEventListener("click", () => setView(...vmallocView(state.snap)));
  $("zoom-in").addEventListener("click", () => zoom(0.5));
  $("zoom-out").addEventListener("click", () => zoom(2));
  $("space-map").addEventListener("wheel", (e) => {
    e.preventDefault();
    const box = $("space-map").getBoundingClientRect();
    const [lo, hi] = state.view;
    zoom(e.deltaY < 0 ? 0.8 : 1.25, lo + ((e.clientX - box.left) / box.width) * (hi - lo));
  }, { passive: false });
  // dragging the strip pans it; a drag that ends on an area does not select it
  const map = $("space-map");
  map.addEventListener("mousedown", (e) => {
    state.drag = { x: e.clientX, view: state.view.slice() };
    state.dragged = false;
  });
  window.addEventListener("mousemove", (e) => {
    if (!state.drag) return;
    const dx = e.clientX - state.drag.x;
    if (Math.abs(dx) > 3) state.dragged = true;
    if (!state.dragged) return;
    const [lo, hi] = state.drag.view;
    const shift = (dx / map.getBoundingClientRect().width) * (hi - lo);
    setView(lo - shift, hi - shift);
  });
  window.addEventListener("mouseup", () => { state.drag = null; });
  $("walk-form").addEventListener("submit", (e) => { e.preventDefault(); walk($("walk-addr").value); });
  $("frames").addEventListener("mousemove", describeFrame);
  $("phys-all").addEventListener("click", () => { state.physZoom = false; drawFrames(); });
  $("phys-area").addEventListener("click", () => { state.physZoom = true; drawFrames(); });
  $("frames").addEventListener("click", clickFrame);
  $("tl-slider").addEventListener("input", (e) => { state.pending = Number(e.target.value); goTo(state.pending); });
  $("tl-back").addEventListener("click", () => step(Math.max(asked() - 1, 0)));
  $("tl-step").addEventListener("click", () => step(Math.min(asked() + 1, state.doc.timeline.last)));
  $("tl-first").addEventListener("click", () => step(0));
  $("tl-last").addEventListener("click", () => step(state.doc.timeline.last));
  // the arrow keys step through the timeline (on a projector, without the mouse)
  document.addEventListener("keydown", (e) => {
    const t = state.doc.timeline;
    if (!t || e.target instanceof HTMLInputElement || e.altKey || e.ctrlKey || e.metaKey) return;
    if (e.key === "ArrowLeft") step(Math.max(asked() - 1, 0));
    else if (e.key === "ArrowRight") step(Math.min(asked() + 1, t.last));
    else return;
    e.preventDefault();
  });
}

async function start() {
  try {
    const embedded = document.getElementById("vmintro-data");
    state.doc = embedded ? JSON.parse(embedded.textContent) : await getJSON("api/explorer");
    state.moment = state.doc.timeline ? state.doc.timeline.last : null;
    if (state.moment !== null) document.body.dataset.moment = String(state.moment);
    wire();
    show(state.doc.snapshot);
    if (!state.snap.errors.length) {
      const notes = (state.doc.notes || []).map((n) => `; ${n}`).join("");
      status(`${state.snap.areas.length} vm areas, ${state.snap.frames.frames} frames${notes}`);
    }
    performance.mark("vmintro-ready"); // every view drawn: what benchmarks/bench_explorer.py times
    document.body.dataset.ready = "1";
  } catch (e) {
    status(`cannot load the explorer's data: ${e.message || e}`, true);
  }
}

start();
