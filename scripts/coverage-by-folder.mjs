#!/usr/bin/env node
// Prints the line coverage of the last tap run, one line per folder of ts/ (lines %, files
// loaded by some test / files in the folder), so modules no test loads are visible. No threshold:
// it always exits 0. Run it after `tap` (CI does, in .ci/run).
//
// tsx leaves the original text out of its source maps (`sourcesContent: [null]`) unless
// NODE_V8_COVERAGE is set, and c8 then maps every file onto one empty line. The maps in
// .tap/coverage are repaired first (without sourcesContent c8 reads the .ts file itself), then
// `tap report json-summary` writes .tap/report/coverage-summary.json.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const rawDir = join(root, '.tap/coverage');
if (!existsSync(rawDir) || readdirSync(rawDir).length === 0) {
  console.log('coverage: none recorded (coverage is off or no test ran)');
  process.exit(0);
}

for (const name of readdirSync(rawDir)) {
  const file = join(rawDir, name);
  const raw = JSON.parse(readFileSync(file, 'utf8'));
  let changed = false;
  for (const entry of Object.values(raw['source-map-cache'] ?? {})) {
    if (entry?.data?.sourcesContent?.includes(null)) {
      delete entry.data.sourcesContent;
      changed = true;
    }
  }
  if (changed) writeFileSync(file, JSON.stringify(raw));
}
execFileSync(join(root, 'node_modules/.bin/tap'), ['report', 'json-summary'], { cwd: root, stdio: 'ignore' });
const summary = JSON.parse(readFileSync(join(root, '.tap/report/coverage-summary.json'), 'utf8'));

function sources(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Whether a file compiles to no code at all (types and interfaces only): nothing to cover. */
function typesOnly(text) {
  const js = ts.transpileModule(text, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, removeComments: true } }).outputText;
  return js.replace(/export \{\};/g, '').trim() === '';
}

// A file no test loaded counts all its lines as uncovered (as c8 counts every line of a loaded file).
const folders = new Map();
for (const file of sources(join(root, 'ts'))) {
  const folder = relative(root, dirname(file));
  const f = folders.get(folder) ?? { covered: 0, total: 0, files: 0, loaded: 0 };
  const lines = summary[file]?.lines;
  const text = lines ? '' : readFileSync(file, 'utf8');
  if (!lines && typesOnly(text)) continue;
  f.files++;
  if (lines) {
    f.loaded++;
    f.covered += lines.covered;
    f.total += lines.total;
  } else {
    f.total += text.split('\n').length;
  }
  folders.set(folder, f);
}

const pct = (f) => (f.total === 0 ? 100 : (100 * f.covered) / f.total).toFixed(1).padStart(5);
const all = { covered: 0, total: 0, files: 0, loaded: 0 };
for (const [folder, f] of [...folders].sort(([a], [b]) => a.localeCompare(b))) {
  console.log(`coverage ${folder.padEnd(16)} lines ${pct(f)}% (${f.covered}/${f.total})  files ${f.loaded}/${f.files} loaded by tests`);
  for (const k of Object.keys(all)) all[k] += f[k];
}
console.log(`coverage ${'all of ts/'.padEnd(16)} lines ${pct(all)}% (${all.covered}/${all.total})  files ${all.loaded}/${all.files} loaded by tests`);
