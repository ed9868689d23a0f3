// tests/features_check.js - node features_check.js DIR N: load a feature
// browser's data files (features/browser.c) as the page does (each assigns
// JSON to a variable) and check their shapes: N latents in the index and in
// the shards, every example a [pos, act, centre, tokens, acts] with tokens
// in the vocabulary, intervals and histograms of the sizes meta.js gives,
// each histogram's SVG (viz/hist.h) drawing one bar per nonempty bin. A
// browser of some latents (meta.sae_latents > N) lists distinct latent ids.
// Prints one line per check; exits non-zero on the first failure.
"use strict";
const fs = require("fs"), vm = require("vm"), path = require("path");
const dir = process.argv[2], N = +process.argv[3];
const ctx = {FEAT_SHARDS: {}};
vm.createContext(ctx);
function load(f) { vm.runInContext(fs.readFileSync(path.join(dir, "data", f), "utf8"), ctx, {filename: f}); }
function check(c, msg) { console.log((c ? "  ok    " : "  FAIL  ") + msg); if (!c) process.exit(1); }
for (const f of ["meta.js", "vocab.js", "index.js"]) load(f);
const M = ctx.FEAT_META, V = ctx.FEAT_VOCAB, IX = ctx.FEAT_INDEX, P = M.params;
check(M.n_latents === N && IX.length === N, `meta and index: ${N} latents`);
check(Array.isArray(V) && V.every(s => typeof s === "string"), `vocab: ${V.length} strings`);
const NS = M.sae_latents, ids = new Set(IX.map(r => r[0]));
check(NS >= N && ids.size === N && IX.every((r, i) => (NS > N || r[0] === i) && Number.isInteger(r[0]) && r[0] >= 0 && r[0] < NS),
      NS > N ? `index: ${N} distinct latents of ${NS} (${M.selection})` : "index: row i is latent i");
check(IX.every(r => r.length === 7 && r[1] >= 0 && r[1] <= 1 && r[3] >= r[2] &&
      r[5].every(t => t >= 0 && t < V.length) && r[6].every(t => t >= 0 && t < V.length)), "index rows: [latent, density, mean, max, fires, tokens, logits]");
const files = fs.readdirSync(path.join(dir, "data")).filter(f => /^s_\d{5}\.js$/.test(f)).sort();
check(files.length === M.n_shards && files.length === Math.ceil(N / M.shard), `${files.length} shards of ${M.shard}`);
let seen = 0, bad = [];
function exOk(e, max) {
  return e.length === 5 && e[3].length === e[4].length && e[3].length <= 2 * P.radius + 1 && e[2] >= 0 && e[2] < e[3].length &&
    e[3].every(t => t >= 0 && t < V.length) && Math.abs(e[4][e[2]] - e[1]) <= 1e-3 * Math.abs(e[1]) && e[1] <= max * 1.001;
}
// an SVG document whose one path holds a bar ("M...z") per nonempty bin
function svgOk(svg, h) {
  if (typeof svg !== "string" || !/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/.test(svg) || !/<\/svg>\s*$/.test(svg)) return false;
  const m = /<path [^>]*d="([^"]*)"/.exec(svg), bars = m ? (m[1].match(/M/g) || []).length : 0;
  return bars === h.filter(c => c > 0).length;
}
for (const f of files) {
  load(f);
  const k = +f.slice(2, 7), sh = ctx.FEAT_SHARDS[k];
  sh.forEach((d, j) => {
    const row = k * M.shard + j, r = IX[row], i = r[0];
    seen++;
    if (d.i !== i) bad.push(`${f}: entry ${j} is latent ${d.i}, not ${i}`);
    if (!svgOk(d.hsvg, d.h) || !svgOk(d.lg.hsvg, d.lg.h)) bad.push(`latent ${i}: histogram SVG`);
    if (d.top.length > P.top_k || d.top.length > r[4] || !d.top.every(e => exOk(e, r[3]))) bad.push(`latent ${i}: top`);
    for (let a = 1; a < d.top.length; a++) if (d.top[a][1] > d.top[a - 1][1]) bad.push(`latent ${i}: top not sorted`);
    if (d.q.length !== P.n_intervals || !d.q.every(q => q[3].length <= P.per_interval && q[3].length <= q[2] && q[3].every(e => exOk(e, r[3]) && e[1] >= q[0] * 0.999)))
      bad.push(`latent ${i}: intervals`);
    if (d.h.length !== P.n_bins || d.h.reduce((a, b) => a + b, 0) !== r[4]) bad.push(`latent ${i}: histogram`);
    const lg = d.lg;
    if (lg.top.length !== P.n_logits || lg.bot.length !== P.n_logits || lg.h.length !== P.n_bins ||
        lg.h.reduce((a, b) => a + b, 0) !== V.length || lg.top[0][1] > lg.hi || lg.bot[0][1] < lg.lo) bad.push(`latent ${i}: logits`);
  });
}
check(seen === N, `the shards hold ${seen} latents`);
check(bad.length === 0, `every latent's examples, intervals, histograms and logits have their shapes${bad.length ? ": " + bad.slice(0, 5).join("; ") : ""}`);
