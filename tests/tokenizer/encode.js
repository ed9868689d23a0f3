#!/usr/bin/env node
// tests/tokenizer/encode.js - the reference GPT-2 encodings the tests compare with.
//
//   node tests/tokenizer/encode.js [--lib gpt-tokenizer|js-tiktoken] [--special] FILE...
//
// Prints, for each FILE (read as UTF-8), its token ids separated by spaces on
// one line. --lib picks the implementation (default gpt-tokenizer, whose
// export gpt-tokenizer/encoding/gpt2 is OpenAI's r50k_base = GPT-2 encoding;
// js-tiktoken uses getEncoding("gpt2")). Without --special "<|endoftext|>" is
// ordinary text (encodeOrdinary / allowedSpecial none); with it, it is token
// 50256 (js-tiktoken only: gpt-tokenizer 4.0.0 finds a special token only at
// the very start of the text, a bug of its sticky regex). Install the
// packages once with `npm ci` in this folder.
// A file that is not valid UTF-8 is an error (exit 3): the references take
// JavaScript strings and would silently replace bad bytes with U+FFFD.
'use strict';
const fs = require('fs');
const path = require('path');

let lib = 'gpt-tokenizer', special = false;
const files = [];
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--lib') lib = args[++i];
  else if (args[i] === '--special') special = true;
  else files.push(args[i]);
}
if (files.length === 0) {
  console.error('usage: node encode.js [--lib gpt-tokenizer|js-tiktoken] [--special] FILE...');
  process.exit(2);
}

const here = __dirname;
let encode;
if (lib === 'gpt-tokenizer') {
  if (special) {
    console.error('encode.js: --special needs --lib js-tiktoken (see the comment at the top)');
    process.exit(2);
  }
  const g = require(path.join(here, 'node_modules/gpt-tokenizer/cjs/encoding/gpt2.js'));
  encode = (s) => g.encode(s, { allowedSpecial: new Set(), disallowedSpecial: new Set() });
} else if (lib === 'js-tiktoken') {
  const t = require(path.join(here, 'node_modules/js-tiktoken/dist/index.cjs'));
  const enc = t.getEncoding('gpt2');
  encode = special ? (s) => enc.encode(s, 'all') : (s) => enc.encode(s, [], []);
} else {
  console.error(`encode.js: unknown --lib ${lib}`);
  process.exit(2);
}

const decoder = new TextDecoder('utf-8', { fatal: true });
for (const f of files) {
  let text;
  try {
    text = decoder.decode(fs.readFileSync(f));
  } catch (e) {
    console.error(`encode.js: ${f}: ${e.message}`);
    process.exit(3);
  }
  const ids = encode(text);
  process.stdout.write(Array.from(ids).join(' ') + '\n');
}
