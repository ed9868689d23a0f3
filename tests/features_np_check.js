// tests/features_np_check.js - node features_np_check.js DIR N: the
// Neuronpedia export of a feature browser folder (DIR/neuronpedia/batch-K.json,
// features/features.h) parses as JSON, holds features 0..N-1 in order, with
// parallel histogram arrays and activation records whose tokens and values
// match in length; frac_nonzero and the top examples agree with the browser's
// own data (DIR/data). Exits non-zero on a failure.
"use strict";
const fs = require("fs"), vm = require("vm"), path = require("path");
const dir = process.argv[2], N = +process.argv[3];
function check(c, msg) { console.log((c ? "  ok    " : "  FAIL  ") + msg); if (!c) process.exit(1); }
const ctx = {FEAT_SHARDS: {}};
vm.createContext(ctx);
for (const f of ["meta.js", "index.js"]) vm.runInContext(fs.readFileSync(path.join(dir, "data", f), "utf8"), ctx);
const IX = ctx.FEAT_INDEX, P = ctx.FEAT_META.params;
const files = fs.readdirSync(path.join(dir, "neuronpedia")).filter(f => /^batch-\d+\.json$/.test(f))
  .sort((a, b) => parseInt(a.slice(6)) - parseInt(b.slice(6)));
let next = 0, bad = [];
for (const f of files) {
  const j = JSON.parse(fs.readFileSync(path.join(dir, "neuronpedia", f), "utf8"));
  if (typeof j.model_id !== "string" || typeof j.n_tokens_in_prompt !== "number") bad.push(`${f}: header`);
  for (const ft of j.features) {
    const i = ft.feature_index, r = IX[i];
    if (i !== next++) bad.push(`${f}: feature ${i} out of order`);
    if (Math.abs(ft.frac_nonzero - r[1]) > 1e-3 * r[1]) bad.push(`${i}: frac_nonzero ${ft.frac_nonzero} vs ${r[1]}`);
    if (ft.freq_hist_data_bar_heights.length !== P.n_bins || ft.freq_hist_data_bar_values.length !== P.n_bins ||
        ft.logits_hist_data_bar_heights.length !== P.n_bins || ft.logits_hist_data_bar_values.length !== P.n_bins)
      bad.push(`${i}: histogram arrays not parallel`);
    if (ft.freq_hist_data_bar_heights.reduce((a, b) => a + b, 0) !== r[4]) bad.push(`${i}: activation histogram sum`);
    if (ft.pos_str.length !== P.n_logits || ft.pos_values.length !== P.n_logits || ft.neg_str.length !== P.n_logits ||
        ft.neg_values.length !== P.n_logits || ft.pos_values[0] < ft.neg_values[0]) bad.push(`${i}: logit tables`);
    const top = ft.activations.filter(a => a.bin_min === -1);
    if (top.length !== Math.min(P.top_k, r[4])) bad.push(`${i}: ${top.length} top examples for ${r[4]} firing positions`);
    for (const a of ft.activations)
      if (a.tokens.length !== a.values.length || !(a.qualifying_token_index >= 0 && a.qualifying_token_index < a.tokens.length) ||
          a.tokens.some(t => typeof t !== "string")) { bad.push(`${i}: an activation record`); break; }
    if (top.length && Math.abs(top[0].max_value - r[3]) > 1e-3 * r[3]) bad.push(`${i}: top example ${top[0].max_value} is not the max ${r[3]}`);
  }
}
check(files.length > 0 && next === N, `${files.length} batch files hold features 0..${next - 1}`);
check(bad.length === 0, `every feature's fields have their shapes and agree with the browser's data${bad.length ? ": " + bad.slice(0, 4).join("; ") : ""}`);
