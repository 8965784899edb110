// The baybus explorer: a page of this gateway's read API (/openapi.json).
// Everything shown comes from the chain and is untrusted text: the page
// builds the DOM with textContent only, never innerHTML.
"use strict";

const CITIES = [
  ["guangzhou", "广州 Guangzhou", "CN"], ["shenzhen", "深圳 Shenzhen", "CN"], ["zhuhai", "珠海 Zhuhai", "CN"],
  ["foshan", "佛山 Foshan", "CN"], ["jiangmen", "江门 Jiangmen", "CN"], ["zhaoqing", "肇庆 Zhaoqing", "CN"],
  ["huizhou", "惠州 Huizhou", "CN"], ["dongguan", "东莞 Dongguan", "CN"], ["zhongshan", "中山 Zhongshan", "CN"],
  ["hongkong", "香港 Hong Kong", "HK"], ["macao", "澳門 Macao", "MO"],
];
const cityName = (t) => (CITIES.find((c) => c[0] === t) || [t, t])[1];

// ---- DOM helpers ----

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const main = () => document.getElementById("main");
function show(...nodes) { main().replaceChildren(...nodes); }
const short = (hex) => (hex && hex.length > 16 ? hex.slice(0, 10) + "…" + hex.slice(-6) : hex || "");
const link = (href, text, cls) => h("a", { href, class: cls }, text);
const txLink = (id) => link("#/tx/" + id, short(id), "mono");
const blockLink = (n) => link("#/block/" + n, "#" + n);
const licLink = (key) => link("#/license/" + key, key, "mono");
const time = (t) => (t ? new Date(t).toLocaleString() : "");
const badge = (s, extra) => h("span", { class: "badge " + s }, s + (extra ? " · " + extra : ""));
function table(head, rows, attrs) {
  return h("table", attrs || {}, h("thead", {}, h("tr", {}, head.map((c) => h("th", {}, c)))),
    h("tbody", {}, rows));
}
function dl(pairs) {
  return h("dl", {}, pairs.filter((p) => p[1] !== undefined && p[1] !== "").map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}
function problem(msg) { return h("p", { class: "error", role: "alert" }, msg); }

// ---- the read token and the API ----

const TOKEN = "baybus-token";
const token = () => sessionStorage.getItem(TOKEN) || "";

class APIError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || "HTTP " + status);
    this.status = status; this.code = e.code || ""; this.field = e.field || "";
  }
}

function headers(extra) {
  const hs = Object.assign({}, extra || {});
  if (token()) hs.Authorization = "Bearer " + token();
  return hs;
}

// exactNumbers is a JSON.parse reviver that keeps integers a JS number
// cannot hold (a proof's nanosecond times) as their source text, so that a
// proof taken from an answer and written out again is the bytes served.
function exactNumbers(_key, value, ctx) {
  return typeof value === "number" && !Number.isSafeInteger(value) && ctx && ctx.source && JSON.rawJSON ? JSON.rawJSON(ctx.source) : value;
}

async function api(path, opts, exact) {
  const resp = await fetch(path, Object.assign({ headers: headers(), cache: "no-store" }, opts || {}));
  let body = null;
  if ((resp.headers.get("Content-Type") || "").startsWith("application/json")) body = exact ? JSON.parse(await resp.text(), exactNumbers) : await resp.json();
  if (resp.status === 401) askToken("This gateway needs a credential: paste a read token.");
  if (!resp.ok) throw new APIError(resp.status, body);
  return body;
}

function askToken(why) {
  const box = document.getElementById("auth");
  box.hidden = false;
  let note = box.querySelector(".why");
  if (!note) { note = h("p", { class: "why error" }); box.prepend(note); }
  note.textContent = why || "";
}

function setupToken() {
  const form = document.getElementById("token-form");
  const input = document.getElementById("token");
  input.value = token();
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN, input.value.trim());
    document.getElementById("auth").hidden = true;
    route();
  });
  document.getElementById("forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN); input.value = ""; askToken("Token forgotten."); route();
  });
}

// explain turns an API error into a line for people.
function explain(err) {
  if (!(err instanceof APIError)) return "Could not reach the gateway: " + err.message;
  switch (err.status) {
    case 401: return "No valid credential (" + err.message + "): paste a read token above.";
    case 403: return "Your credential may not read this: " + err.message;
    case 404: return "Not found: " + err.message;
    default: return err.code + ": " + err.message;
  }
}

// ---- live blocks ----

let following = null; // AbortController of the block stream

function stopFollowing() { if (following) following.abort(); following = null; }

// follow reads the server-sent block events with fetch (EventSource cannot
// send a bearer token) and resumes after the last height it saw.
async function follow(after, onBlock, onState) {
  stopFollowing();
  const ctl = new AbortController();
  following = ctl;
  let last = after;
  while (!ctl.signal.aborted) {
    try {
      const hs = headers({ Accept: "text/event-stream" });
      if (last) hs["Last-Event-ID"] = String(last);
      const resp = await fetch("/v1/blocks/events", { headers: hs, signal: ctl.signal, cache: "no-store" });
      if (!resp.ok) {
        if (resp.status === 401) askToken("The block stream needs a credential.");
        onState("stream refused: HTTP " + resp.status);
        await sleep(5000, ctl.signal);
        continue;
      }
      onState("live");
      const reader = resp.body.getReader();
      const dec = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const chunk = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let ev = "", data = "", id = "";
          for (const line of chunk.split("\n")) {
            if (line.startsWith("event: ")) ev = line.slice(7);
            else if (line.startsWith("data: ")) data += line.slice(6);
            else if (line.startsWith("id: ")) id = line.slice(4);
          }
          if (ev === "block" && data) {
            const b = JSON.parse(data);
            last = Number(id) || b.height;
            onBlock(b);
          }
        }
      }
      onState("reconnecting");
    } catch (e) {
      if (ctl.signal.aborted) return;
      onState("reconnecting: " + e.message);
    }
    await sleep(2000, ctl.signal);
  }
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    if (signal) signal.addEventListener("abort", () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

function blockRow(b, fresh) {
  return h("tr", { dataset: { height: b.height }, class: fresh ? "fresh" : "" },
    h("td", {}, blockLink(b.height)),
    h("td", {}, time(b.time)),
    h("td", { class: "num" }, b.txCount),
    h("td", {}, b.proposer),
    h("td", { class: "signers" }, (b.signers || []).join(", ")),
    h("td", { class: "mono" }, short(b.hash)));
}

async function pageHome() {
  const state = h("span", { id: "live-state", class: "muted" }, "connecting…");
  const body = h("tbody", { id: "blocks" });
  show(h("h1", {}, "Blocks ", state),
    h("p", { class: "muted" }, "Each block is sealed by the orderers whose votes make its quorum certificate (signers). Transactions counts those that took effect."),
    h("table", { class: "blocks" },
      h("thead", {}, h("tr", {}, ["Height", "Time", "Transactions", "Proposer", "Signers", "Hash"].map((c) => h("th", {}, c)))),
      body));
  let newest = 0;
  try {
    const list = await api("/v1/blocks?limit=20");
    for (const b of list.blocks.slice().reverse()) body.append(blockRow(b));
    newest = list.blocks.length ? list.blocks[list.blocks.length - 1].height : 0;
    if (!list.blocks.length) body.append(h("tr", { class: "empty" }, h("td", { colspan: 6 }, "No block yet: publish an event (README.md, “first five minutes”).")));
  } catch (e) {
    main().append(problem(explain(e)));
    return;
  }
  follow(newest, (b) => {
    if (body.querySelector(`tr[data-height="${b.height}"]`)) return;
    const empty = body.querySelector("tr.empty");
    if (empty) empty.remove();
    body.prepend(blockRow(b, true));
    while (body.children.length > 50) body.lastChild.remove();
  }, (s) => { state.textContent = s; state.className = s === "live" ? "live" : "muted"; });
}

// ---- a block ----

async function pageBlock(height, from) {
  show(h("h1", {}, "Block #" + height));
  let b;
  try { b = await api(`/v1/blocks/${height}?from=${from || 0}&limit=100`); } catch (e) { main().append(problem(explain(e))); return; }
  const results = Object.entries(b.results).map(([r, n]) => badge(r, n));
  main().append(
    dl([["Time", time(b.time)], ["Proposer", b.proposer], ["Signers (quorum certificate)", b.signers.join(", ")],
      ["Transactions", [String(b.total) + " ", ...results]], ["Rules version", String(b.rules)],
      ["Hash", h("span", { class: "mono" }, b.hash)], ["Previous", b.height > 1 ? link("#/block/" + (b.height - 1), b.prev, "mono") : b.prev],
      ["Transaction root", h("span", { class: "mono" }, b.txRoot)], ["State root", h("span", { class: "mono" }, b.stateRoot)],
      ["Results hash", h("span", { class: "mono" }, b.resultsHash)]]),
    h("h2", {}, "Transactions"),
    table(["#", "Transaction", "City", "Result", "Kind", "Action", "License", "Name"], b.transactions.map((t) =>
      h("tr", { dataset: { tx: t.id } },
        h("td", { class: "num" }, t.position), h("td", {}, txLink(t.id)), h("td", {}, link("#/city/" + t.city, cityName(t.city))),
        h("td", {}, badge(t.result, t.reason)),
        t.redacted ? h("td", { colspan: 4, class: "muted" }, "withheld: your credential may not read this city's transactions")
          : [h("td", {}, t.kind || ""), h("td", {}, t.action || ""), h("td", {}, t.license ? licLink(t.license) : ""), h("td", {}, t.name || "")]))),
    h("p", {}, b.height > 1 ? link("#/block/" + (b.height - 1), "← previous block") : "", " ",
      b.nextTx ? link(`#/block/${b.height}/${b.nextTx}`, "more transactions →") : "", " ",
      link("#/block/" + (b.height + 1), "next block →")));
}

// ---- a transaction ----

async function pageTx(id, render) {
  show(h("h1", {}, "Transaction"), h("p", { class: "mono" }, id));
  let a;
  try { a = await api(`/v1/tx/${id}` + (render ? "?render=" + render : "")); } catch (e) { main().append(problem(explain(e))); return; }
  const c = a.content;
  main().append(dl([["Status", badge(a.status, a.reason)], ["Block", a.height ? blockLink(a.height) : "not sealed yet"],
    ["Position", a.position !== undefined ? String(a.position) : ""], ["Result", a.result || ""], ["Batch", a.batchId || ""]]));
  if (!c) return;
  main().append(dl([["City", cityName(c.city)], ["Block time", time(c.blockTime)], ["Batch made", time(c.batchTime)],
    ["Checked by the gateway", c.verified]]));
  if (c.withheld) { main().append(problem("Content withheld: " + c.withheld)); return; }
  if (!c.tx) { main().append(h("p", { class: "muted" }, "The bytes of this transaction are not a transaction (" + (c.reason || c.result) + ").")); return; }
  const tx = c.tx;
  const key = tx.jurisdiction + "/" + tx.record.id;
  main().append(h("h2", {}, "Record"), dl([["License", licLink(key)], ["Kind", tx.kind], ["Action", tx.action], ["Occurred", tx.occurredAt],
    ["Reason", tx.reason || ""], ["Native format", tx.nativeFormat || ""]]));
  main().append(h("div", { class: "render" }, "Render as: ",
    ["CN", "HK", "MO"].map((j) => link(`#/tx/${id}/${j.toLowerCase()}`, j === "CN" ? "CN 内地" : j === "HK" ? "HK 香港" : "MO 澳門", render === j.toLowerCase() ? "on" : ""))));
  if (c.rendering) {
    main().append(h("table", { class: "rendering", dataset: { jurisdiction: c.rendering.jurisdiction } },
      h("caption", {}, c.rendering.version),
      h("tbody", {}, c.rendering.fields.map((f) => h("tr", {}, h("th", {}, f.label), h("td", {}, f.value))))));
  } else if (c.renderError) {
    main().append(problem("Cannot render: " + c.renderError));
  }
  main().append(h("details", {}, h("summary", {}, "Canonical transaction (JSON)"), h("pre", {}, JSON.stringify(tx, null, 2))));
}

// ---- a license ----

let handedProof = null; // a proof the license page hands to the verifier: {name, bytes}

async function fetchProof(key) {
  const [jur, id] = [key.slice(0, 2), key.slice(3)];
  const resp = await fetch(`/v1/licenses/${jur}/${encodeURIComponent(id)}/proof`, { headers: headers(), cache: "no-store" });
  if (!resp.ok) {
    let body = null;
    try { body = await resp.json(); } catch (_) { /* not JSON */ }
    throw new APIError(resp.status, body);
  }
  return { bytes: new Uint8Array(await resp.arrayBuffer()), status: resp.headers.get("Baybus-Status"), height: resp.headers.get("Baybus-Height") };
}

function download(name, bytes) {
  const url = URL.createObjectURL(new Blob([bytes], { type: "application/json" }));
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

async function pageLicense(key, before) {
  show(h("h1", {}, "License ", h("span", { class: "mono" }, key)));
  let hist;
  try { hist = await api(`/v1/licenses/${key.slice(0, 2)}/${encodeURIComponent(key.slice(3))}/history?limit=50` + (before ? "&before=" + before : "")); } catch (e) { main().append(problem(explain(e))); return; }
  const proofState = h("span", { id: "proof-state", class: "muted" });
  const fileName = key.replace("/", "-") + ".proof.json";
  main().append(
    dl([["Status", h("span", { id: "license-status" }, badge(hist.status))], ["City of its last change", link("#/city/" + hist.city, cityName(hist.city))]]),
    h("p", {},
      h("button", { id: "download-proof", onclick: async () => {
        proofState.textContent = "fetching…";
        try {
          const p = await fetchProof(key);
          download(fileName, p.bytes);
          proofState.textContent = `saved ${fileName}: ${p.status} at height ${p.height}`;
        } catch (e) { proofState.textContent = explain(e); }
      } }, "Download proof"), " ",
      h("button", { id: "verify-here", onclick: async () => {
        try {
          const p = await fetchProof(key);
          handedProof = { name: fileName, bytes: p.bytes };
          location.hash = "#/verify";
        } catch (e) { proofState.textContent = explain(e); }
      } }, "Verify it in this browser"), " ", proofState),
    h("p", { class: "muted" }, "A fresh proof of the license's current status: the record, its city's signature, its path to the block, the block's quorum certificate and the state proof. Anyone holding only trust.json can check it: `baybus verify --trust trust.json " + fileName + "`, or the verifier of this page."),
    h("p", {}, link("#/accesses?license=" + encodeURIComponent(key), "Who read its personal data (access records)")),
    h("h2", {}, "History"),
    table(["Height", "Status", "Action", "City", "Occurred", "Transaction", "Record in force"], hist.versions.map((v) =>
      h("tr", { dataset: { height: v.height } }, h("td", {}, blockLink(v.height)), h("td", {}, badge(v.status)), h("td", {}, v.action || ""),
        h("td", {}, v.city ? cityName(v.city) : ""), h("td", {}, v.occurredAt || ""), h("td", {}, txLink(v.tx)), h("td", {}, txLink(v.recordTx))))),
    hist.next ? h("p", {}, link(`#/license/${key}/before/${hist.next}`, "older versions →")) : "");
}

// ---- licenses, per city ----

async function pageLicenses(params, title) {
  const q = new URLSearchParams(params);
  if (!q.get("limit")) q.set("limit", "50");
  const city = q.get("city") || "";
  const status = h("select", { id: "status-filter", onchange: (e) => { q.set("status", e.target.value); q.delete("cursor"); location.hash = "#/licenses?" + clean(q); } },
    ["", "valid", "suspended", "revoked", "expired"].map((s) => h("option", { value: s, selected: q.get("status") === s }, s || "any status")));
  show(h("h1", {}, title || "Licenses"), h("p", {}, "Status: ", status, " ",
    city ? "" : h("span", { class: "muted" }, "A city's token lists that city's licenses; a named reader's those its grants cover.")));
  let l;
  try { l = await api("/v1/licenses?" + clean(q)); } catch (e) { main().append(problem(explain(e))); return; }
  main().append(table(["License", "City", "Kind", "Holder", "Name", "Status", "Last change"], l.licenses.map((x) =>
    h("tr", { dataset: { key: x.key } }, h("td", {}, licLink(x.key)), h("td", {}, link("#/city/" + x.city, cityName(x.city))), h("td", {}, x.kind),
      x.withheld ? h("td", { class: "muted", colspan: 2, title: "a natural person's: shown to the license's city only" }, "withheld (personal)")
        : [h("td", { class: "mono" }, x.holder), h("td", {}, x.name || "")],
      h("td", {}, badge(x.status)), h("td", {}, blockLink(x.height))))));
  if (!l.licenses.length) main().append(h("p", { class: "muted" }, "None on this page."));
  if (l.next) {
    const n = new URLSearchParams(q);
    n.set("cursor", l.next);
    main().append(h("p", {}, link("#/licenses?" + clean(n), "next page →")));
  }
}

// ---- access records (issue 15 §5) ----

// pageAccesses lists the access records of a license, a reader or a city
// (GET /v1/accesses, the share routes' audit): who read what, when, under
// which grant, answered or refused, sealed at which height, each with its
// proof. A city's token sees the reads of its data, a reader's its own.
async function pageAccesses(params) {
  const q = new URLSearchParams(params);
  const field = (name, label, hint) => h("label", {}, label, " ", h("input", { name, value: q.get(name) || "", placeholder: hint, size: 18 }));
  const form = h("form", { id: "access-filter", onsubmit: (e) => {
    e.preventDefault();
    const n = new URLSearchParams();
    for (const k of ["city", "reader", "license", "from", "to"]) n.set(k, form.elements[k].value.trim());
    location.hash = "#/accesses?" + clean(n);
  } }, field("city", "City", "shenzhen"), " ", field("reader", "Reader", "hk-bank"), " ", field("license", "License", "CN/…"), " ",
  field("from", "From", "RFC 3339"), " ", field("to", "To", "RFC 3339"), " ", h("button", { type: "submit" }, "List"));
  show(h("h1", {}, "Access records"), form,
    h("p", { class: "muted" }, "Every read of personal data under the owner's control, answered or refused, is an access record sealed on the ledger before the answer. A city's token lists the reads of its data; a named reader's, its own."));
  if (!q.get("city") && !q.get("reader") && !q.get("license")) return;
  q.set("proofs", "1");
  let l;
  try { l = await api("/v1/accesses?" + clean(q), {}, true); } catch (e) {
    main().append(problem(e instanceof APIError && e.status === 501 ? "This chain has no sharing (rules version 1 or 2): " + e.message : explain(e)));
    return;
  }
  main().append(table(["Sealed", "Block", "Reader", "Owner", "License", "Fields", "Purpose", "Grant", "Outcome", "Record", "Proof"], l.accesses.map((a) => {
    const state = h("span", { class: "muted" });
    const name = a.key.replaceAll("/", "-") + ".proof.json";
    const bytes = () => new TextEncoder().encode(JSON.stringify(a.proof));
    return h("tr", { dataset: { key: a.key } }, h("td", {}, time(a.time)), h("td", {}, blockLink(a.height)), h("td", {}, a.reader),
      h("td", {}, link("#/city/" + a.city, cityName(a.city))), h("td", {}, a.license ? licLink(a.license) : a.kind + " (match)"),
      h("td", {}, (a.fields || []).join(", ")), h("td", {}, a.purpose), h("td", { class: "mono" }, a.grant || ""),
      h("td", {}, badge(a.outcome, a.reason)), h("td", {}, txLink(a.tx)),
      h("td", {}, a.proof ? [h("button", { class: "download-access-proof", onclick: () => { download(name, bytes()); state.textContent = "saved " + name; } }, "Download"), " ",
        h("button", { class: "verify-access-proof", onclick: () => { handedProof = { name, bytes: bytes() }; location.hash = "#/verify"; } }, "Verify"), " ", state] : ""));
  })));
  if (!l.accesses.length) main().append(h("p", { class: "muted" }, "None."));
  if (l.next) {
    const n = new URLSearchParams(q);
    n.delete("proofs");
    n.set("cursor", l.next);
    main().append(h("p", {}, link("#/accesses?" + clean(n), "next page →")));
  }
}

function clean(q) {
  const out = new URLSearchParams();
  for (const [k, v] of q) if (v) out.set(k, v);
  return out.toString();
}

function pageCities() {
  show(h("h1", {}, "Cities"), table(["City", "Jurisdiction", ""], CITIES.map(([t, n, j]) =>
    h("tr", {}, h("td", {}, link("#/city/" + t, n)), h("td", {}, j), h("td", {}, link("#/licenses?city=" + t, "licenses"), " ",
      link("#/accesses?city=" + t, "reads of its data"))))));
}

async function pageCity(city) {
  await pageLicenses({ city }, "City: " + cityName(city));
  main().append(h("h2", {}, "Its transactions in recent blocks"));
  const body = h("tbody");
  main().append(table(["Block", "Transaction", "Result", "Kind", "Action", "License"], body));
  try {
    const list = await api("/v1/blocks?limit=10");
    for (const b of list.blocks.slice().reverse()) {
      const blk = await api(`/v1/blocks/${b.height}?limit=256`);
      for (const t of blk.transactions.filter((t) => t.city === city)) {
        body.append(h("tr", {}, h("td", {}, blockLink(b.height)), h("td", {}, txLink(t.id)), h("td", {}, badge(t.result, t.reason)),
          h("td", {}, t.kind || ""), h("td", {}, t.action || ""), h("td", {}, t.license ? licLink(t.license) : (t.redacted ? "withheld" : ""))));
      }
    }
  } catch (e) { main().append(problem(explain(e))); }
}

// ---- search ----

async function pageSearch(q) {
  q = q.trim();
  show(h("h1", {}, "Search: ", q));
  if (/^[0-9a-fA-F]{64}$/.test(q)) { location.hash = "#/tx/" + q.toLowerCase(); return; }
  if (/^#?[0-9]{1,12}$/.test(q)) { location.hash = "#/block/" + q.replace("#", ""); return; }
  const m = /^(CN|HK|MO)\/(.+)$/i.exec(q);
  if (m) { location.hash = "#/license/" + m[1].toUpperCase() + "/" + m[2]; return; }
  // A license id (USCC, BR number, ...) in any jurisdiction, or a holder.
  const found = [];
  for (const j of ["CN", "HK", "MO"]) {
    try {
      const hist = await api(`/v1/licenses/${j}/${encodeURIComponent(q)}/history?limit=1`);
      found.push(hist.key);
    } catch (_) { /* not there, or not ours to read */ }
  }
  try {
    const l = await api("/v1/licenses?holder=" + encodeURIComponent(q) + "&limit=50");
    for (const x of l.licenses) if (!found.includes(x.key)) found.push(x.key);
  } catch (_) { /* no catalogue, or not ours to read */ }
  if (found.length === 1) { location.hash = "#/license/" + found[0]; return; }
  main().append(found.length ? h("ul", {}, found.map((k) => h("li", {}, licLink(k))))
    : h("p", {}, "Nothing found that your credential may read. Try a license key (CN/91440300…), a USCC, a BR number, a transaction id (64 hex digits) or a height."));
}

// ---- the verifier ----

let verifierReady = null;

function loadVerifier() {
  if (!verifierReady) {
    verifierReady = (async () => {
      const go = new Go();
      const resp = fetch("/explorer/verify.wasm");
      const { instance } = await WebAssembly.instantiateStreaming(resp, go.importObject);
      go.run(instance);
      while (!globalThis.baybusVerifierReady) await sleep(10);
    })();
  }
  return verifierReady;
}

const checkWords = {
  "record": "the record does not match its id, or is not the license's",
  "batch-path": "the transaction is not in its city's signed batch",
  "batch-signature": "the city's signature over the batch does not verify",
  "tx-path": "the transaction is not under the block's transaction root",
  "header": "a block header is malformed or not the one used",
  "quorum": "a block's quorum certificate does not hold",
  "state-proof": "the state proof does not lead to the block's state root",
  "key-not-valid": "a key is not in the trust bundle at that height",
  "fork": "two different blocks for one height",
  "format": "the file is not a proof",
};

function pageVerify() {
  const files = { proof: null, trust: null };
  if (handedProof) { files.proof = handedProof; handedProof = null; }
  const out = h("div", { id: "verdict", class: "verdict", "aria-live": "polite" });
  const names = { proof: h("span", { id: "proof-name", class: "muted" }), trust: h("span", { id: "trust-name", class: "muted" }) };
  const render = h("select", { id: "render", onchange: () => run() }, [["", "its own jurisdiction"], ["cn", "CN 内地"], ["hk", "HK 香港"], ["mo", "MO 澳門"]]
    .map(([v, t]) => h("option", { value: v }, t)));
  const label = () => {
    names.proof.textContent = files.proof ? files.proof.name : "no proof yet";
    names.trust.textContent = files.trust ? files.trust.name : "no trust.json yet";
  };
  async function take(kind, file) {
    files[kind] = { name: file.name, bytes: new Uint8Array(await file.arrayBuffer()) };
    label();
    run();
  }
  // A dropped file that parses as a trust bundle is the trust; anything
  // else is a proof.
  async function dropped(list) {
    for (const f of list) {
      const bytes = new Uint8Array(await f.arrayBuffer());
      let kind = "proof";
      try {
        const j = JSON.parse(new TextDecoder().decode(bytes));
        if (j && j.chain && j.orderers && !j.key) kind = "trust";
      } catch (_) { /* binary proof */ }
      files[kind] = { name: f.name, bytes };
    }
    label();
    run();
  }
  const proofInput = h("input", { id: "proof-file", type: "file", onchange: (e) => e.target.files[0] && take("proof", e.target.files[0]) });
  const trustInput = h("input", { id: "trust-file", type: "file", accept: ".json,application/json", onchange: (e) => e.target.files[0] && take("trust", e.target.files[0]) });
  const zone = h("div", { id: "drop", class: "drop",
    ondragover: (e) => { e.preventDefault(); zone.classList.add("over"); },
    ondragleave: () => zone.classList.remove("over"),
    ondrop: (e) => { e.preventDefault(); zone.classList.remove("over"); dropped(e.dataTransfer.files); } },
  h("p", {}, "Drop a proof file and trust.json here"), h("p", { class: "muted" }, "or choose them:"),
  h("p", {}, h("label", {}, "Proof ", proofInput), " ", names.proof),
  h("p", {}, h("label", {}, "Trust bundle ", trustInput), " ", names.trust));

  async function run() {
    if (!files.proof || !files.trust) {
      out.className = "verdict";
      out.replaceChildren(h("p", { class: "muted" }, "Give a proof and the consortium's trust.json (from whoever runs the consortium; `baybus up` keeps it as data/trust.json)."));
      return;
    }
    out.className = "verdict";
    out.replaceChildren(h("p", { class: "muted" }, "Verifying in this browser…"));
    try {
      await loadVerifier();
    } catch (e) {
      out.replaceChildren(problem("The verifier could not start: " + e.message));
      return;
    }
    const r = JSON.parse(globalThis.baybusVerify(files.proof.bytes, files.trust.bytes, render.value));
    if (r.problem) {
      out.className = "verdict problem";
      out.replaceChildren(h("p", { class: "headline" }, "Cannot verify: " + r.problem));
      return;
    }
    if (!r.valid) {
      out.className = "verdict invalid";
      out.dataset.check = r.check;
      out.replaceChildren(h("p", { class: "headline" }, "INVALID: the " + r.check + " check failed"),
        h("p", {}, checkWords[r.check] || ""), h("pre", {}, r.error));
      return;
    }
    out.className = "verdict valid";
    out.dataset.check = "";
    const fine = r.statusNow === "valid";
    out.replaceChildren(
      h("p", { class: "headline" }, "Proof valid", " — ", "license " + r.key + " is ", badge(r.statusNow)),
      dl([["Status at height " + r.height, r.status], ["As of", time(r.time) + " (" + age(r.ageSeconds) + " ago)"],
        ["Held by", r.owner ? cityName(r.owner) : ""], ["Valid to", r.validTo || ""],
        ["Proved transaction", `${r.action} by ${cityName(r.city)} at height ${r.txHeight}`],
        ["Checked against", `trust bundle of chain ${r.chain}, ${r.orderers} orderers (rules version ${r.rules})`]]),
      fine ? "" : h("p", { class: "error" }, "The proof is sound, but the license is not valid."),
      r.rendering ? h("table", { class: "rendering", dataset: { jurisdiction: r.rendering.jurisdiction } },
        h("caption", {}, r.rendering.version),
        h("tbody", {}, r.rendering.fields.map((f) => h("tr", {}, h("th", {}, f.label), h("td", {}, f.value))))) : problem(r.renderError || ""));
  }

  show(h("h1", {}, "Verify a proof"),
    h("p", {}, "The proof is checked here, in this browser, by the same code as `baybus verify` compiled to WebAssembly: the record and its id, its city's batch signature, its path to the block, the block's quorum certificate against the orderers' keys in trust.json, and the state proof of the license's status. Neither file is sent anywhere."),
    zone, h("p", {}, "Render the record as ", render), out);
  label();
  run();
  loadVerifier().catch(() => {}); // warm up while the user picks files
}

function age(s) {
  if (s < 120) return s + " s";
  if (s < 7200) return Math.round(s / 60) + " min";
  if (s < 172800) return Math.round(s / 3600) + " h";
  return Math.round(s / 86400) + " days";
}

// ---- routing ----

function route() {
  const hash = decodeURIComponent(location.hash.replace(/^#/, "")) || "/";
  const [path, query] = hash.split("?");
  const parts = path.split("/").filter(Boolean);
  stopFollowing(); // the home page follows the chain again
  document.title = "baybus explorer · " + (parts.join(" ") || "blocks");
  switch (parts[0]) {
    case undefined: return pageHome();
    case "block": return pageBlock(Number(parts[1]), Number(parts[2] || 0));
    case "tx": return pageTx(parts[1], parts[2] || "");
    case "license": return pageLicense(parts[1] + "/" + parts[2], parts[3] === "before" ? parts[4] : "");
    case "licenses": return pageLicenses(query || "");
    case "cities": return pageCities();
    case "city": return pageCity(parts[1]);
    case "search": return pageSearch(new URLSearchParams(query || "").get("q") || "");
    case "verify": return pageVerify();
    case "accesses": return pageAccesses(query || "");
  }
  show(problem("No such page: " + hash));
}

document.addEventListener("DOMContentLoaded", () => {
  setupToken();
  document.getElementById("search").addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = "#/search?q=" + encodeURIComponent(document.getElementById("q").value);
  });
  window.addEventListener("hashchange", route);
  route();
});
