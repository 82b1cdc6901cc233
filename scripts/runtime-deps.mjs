// Copies into OUT/node_modules the packages the built bundle loads from node_modules at run time
// (those scripts/build.mjs keeps external) with all they depend on: the image needs no other
// package. Usage: node scripts/runtime-deps.mjs OUT
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { external } from './build.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = process.argv[2];
if (!out) throw new Error('usage: node scripts/runtime-deps.mjs OUT');

/** The directory Node resolves package `name` to from `from`, walking up node_modules folders. */
function locate(name, from) {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === dirname(dir)) return undefined;
  }
}

const found = new Set();
const visit = (name, from, optional) => {
  const dir = locate(name, from);
  if (!dir) {
    if (optional) return;
    throw new Error(`${name} (needed from ${relative(root, from) || '.'}) is not installed`);
  }
  if (found.has(dir)) return;
  found.add(dir);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  for (const dep of Object.keys(pkg.dependencies ?? {})) visit(dep, dir, false);
  for (const dep of Object.keys(pkg.optionalDependencies ?? {})) visit(dep, dir, true);
};
for (const name of external) visit(name, root, false);
for (const dir of found) cpSync(dir, join(out, relative(root, dir)), { recursive: true, dereference: true });
process.stdout.write(`${found.size} packages copied to ${out}\n`);
