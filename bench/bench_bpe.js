#!/usr/bin/env node
// bench/bench_bpe.js - time gpt-tokenizer (OpenAI's GPT-2 encoding in pure
// JavaScript) on a text, single-threaded, for bench/bench_bpe.c to compare.
//
//   node bench/bench_bpe.js TEXT IDS_OUT
//
// Prints one line "cold_seconds warm_seconds n_tokens": the first encode
// (JIT cold, merge cache empty) and the best of 3 more. Writes the ids,
// separated by spaces, to IDS_OUT so the caller can check them first.
// Needs `npm ci` in tests/tokenizer.
'use strict';
const fs = require('fs');
const path = require('path');
const g = require(path.join(__dirname, '../tests/tokenizer/node_modules/gpt-tokenizer/cjs/encoding/gpt2.js'));
const [file, idsOut] = process.argv.slice(2);
const text = new TextDecoder('utf-8', { fatal: true }).decode(fs.readFileSync(file));
const opts = { allowedSpecial: new Set(), disallowedSpecial: new Set() };
let t = process.hrtime.bigint();
const ids = g.encode(text, opts);
const cold = Number(process.hrtime.bigint() - t) / 1e9;
let warm = Infinity;
for (let r = 0; r < 3; r++) {
  t = process.hrtime.bigint();
  g.encode(text, opts);
  warm = Math.min(warm, Number(process.hrtime.bigint() - t) / 1e9);
}
fs.writeFileSync(idsOut, ids.join(' ') + '\n');
console.log(`${cold} ${warm} ${ids.length}`);
