#!/usr/bin/env node
// Native-solc-compatible front end for solc-js (npm `solc`), for machines where no native
// solc can be downloaded. Why hand-written: solcjs's own CLI rejects forge's flags, prints a
// ">>> ..." banner before the JSON, fails with EAGAIN on large piped stdin and can truncate
// large piped stdout. Here input and output go through files and the banner never appears.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require(path.join(__dirname, "..", "..", "node_modules", "solc"));

const args = process.argv.slice(2);
if (args.includes("--version") || args.includes("-v")) {
  const v = solc.version().replace(".Emscripten.clang", "");
  process.stdout.write("solc, the solidity compiler commandline interface\nVersion: " + v + ".Linux.g++\n");
  process.exit(0);
}
const inFile = process.env.SOLC_SHIM_IN;
const outFile = process.env.SOLC_SHIM_OUT;
if (!args.includes("--standard-json") || !inFile || !outFile) {
  process.stderr.write("solc-shim: only --version and --standard-json are supported\n");
  process.exit(1);
}
const roots = [process.cwd(), path.join(__dirname, "..", "..")];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--base-path" || args[i] === "--include-path") roots.push(args[i + 1]);
}
function findImports(p) {
  const candidates = [];
  for (const r of roots) {
    candidates.push(path.resolve(r, p), path.resolve(r, "node_modules", p));
  }
  for (const c of candidates) {
    if (fs.existsSync(c)) return { contents: fs.readFileSync(c, "utf8") };
  }
  return { error: "File not found: " + p };
}
const input = fs.readFileSync(inFile, "utf8");
const output = solc.compile(input, { import: findImports });
fs.writeFileSync(outFile, output);
