#!/usr/bin/env node
// tests/tokenizer/check_classes.js - compare our Unicode tables with node's.
//
//   node tests/tokenizer/check_classes.js [--ucd DIR] [FILE...]
//
// Reads tokenizer/unicode_tables.c (letters \p{L}, numbers \p{N}, white space
// \s from the Unicode Character Database) and classifies every code point
// with node's own regexes (/\p{L}/u, /\p{N}/u, /\s/u: the classes that
// gpt-tokenizer and js-tiktoken use). Prints a summary of the disagreements;
// with FILEs, exits 1 if any FILE contains a code point on which they
// disagree (such a character cannot have a meaningful golden). Expected
// disagreements: U+0085 (Unicode White_Space, not JavaScript \s), U+FEFF
// (JavaScript \s, not White_Space) and characters newer than our tables.
// With --ucd DIR (the UCD our tables were made from, e.g. /usr/share/unicode),
// exits 1 if node disagrees on any other code point assigned in DIR's
// UnicodeData.txt: an independent check of the whole generated table.
'use strict';
const fs = require('fs');
const path = require('path');

const src = fs.readFileSync(path.join(__dirname, '../../tokenizer/unicode_tables.c'), 'utf8');
const ours = new Uint8Array(0x110000).fill(0);
const CLS = { LETTER: 1, NUMBER: 2, SPACE: 3 };
for (const m of src.matchAll(/\{0x([0-9A-F]+), 0x([0-9A-F]+), UC_(LETTER|NUMBER|SPACE)\}/g)) {
  const lo = parseInt(m[1], 16), hi = parseInt(m[2], 16);
  for (let c = lo; c <= hi; c++) ours[c] = CLS[m[3]];
}
const version = (src.match(/unicode_tables_version\[\] = "([^"]+)"/) || [])[1];
const L = /^\p{L}$/u, N = /^\p{N}$/u, S = /^\s$/u;
const names = ['other', 'letter', 'number', 'space'];
const differ = new Set();
const summary = {};
for (let c = 0; c < 0x110000; c++) {
  if (c >= 0xD800 && c <= 0xDFFF) continue;
  const s = String.fromCodePoint(c);
  const js = L.test(s) ? 1 : N.test(s) ? 2 : S.test(s) ? 3 : 0;
  if (js !== ours[c]) {
    differ.add(c);
    const k = `ours ${names[ours[c]]}, node ${names[js]}`;
    (summary[k] = summary[k] || []).push(c);
  }
}
console.log(`tables: Unicode ${version}; node ${process.version}, Unicode ${process.versions.unicode}`);
for (const [k, cs] of Object.entries(summary)) {
  const show = cs.slice(0, 6).map((c) => 'U+' + c.toString(16).toUpperCase().padStart(4, '0'));
  console.log(`  ${k}: ${cs.length} code points (${show.join(' ')}${cs.length > 6 ? ' ...' : ''})`);
}
let bad = 0;
const args = process.argv.slice(2);
const ucdAt = args.indexOf('--ucd');
if (ucdAt >= 0) {
  const ucd = args.splice(ucdAt, 2)[1];
  const assigned = new Uint8Array(0x110000);
  let first = null;
  for (const line of fs.readFileSync(path.join(ucd, 'UnicodeData.txt'), 'utf8').split('\n')) {
    if (!line) continue;
    const f = line.split(';'), cp = parseInt(f[0], 16);
    if (f[1].endsWith(', First>')) { first = cp; continue; }
    for (let c = f[1].endsWith(', Last>') ? first : cp; c <= cp; c++) assigned[c] = 1;
  }
  let n = 0;
  for (const c of differ) {
    if (!assigned[c] || c === 0x85 || c === 0xFEFF) continue;
    if (n++ < 20) console.log(`U+${c.toString(16).toUpperCase().padStart(4, '0')}: assigned in ${ucd}, classified differently`);
    bad++;
  }
  console.log(`${n} unexpected disagreements on code points assigned in ${ucd}`);
}
for (const f of args) {
  const text = fs.readFileSync(f, 'utf8');
  for (const ch of text) {
    const c = ch.codePointAt(0);
    if (differ.has(c)) {
      console.log(`${f}: has U+${c.toString(16).toUpperCase().padStart(4, '0')}, classified differently`);
      bad++;
    }
  }
}
process.exit(bad ? 1 : 0);
