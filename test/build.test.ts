// The built CLI (npm run build; tap's `before` hook builds it): bin/coreflow.js runs dist/, compiles
// nothing, and a command loads only what it needs. A module hook records every module the process
// loads.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { cleanupCluster, connect, TEST_IMAGE, testDoc } from './helpers/swarm.ts';

const exec = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;
const bin = join(root, 'bin/coreflow.js');
const dir = await mkdtemp(join(tmpdir(), 'cf-build-'));
const hooks = join(dir, 'hooks.mjs');
await writeFile(hooks, "import { appendFileSync } from 'node:fs';\nexport async function load(url, context, next) { appendFileSync(process.env.CF_LOADED, url + '\\n'); return next(url, context); }\n");
const register = join(dir, 'register.mjs');
await writeFile(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);

const { docker } = await connect();
const doc = testDoc('build');
doc.services = [{ name: `${doc.cluster.name}-web`, image: TEST_IMAGE, command: ['sleep', '3600'], scaleFactor: 0 }];
const spec = join(dir, 'spec.json');
await writeFile(spec, JSON.stringify(doc));
t.teardown(() => cleanupCluster(docker, doc.cluster.name));

/** Runs the built CLI in `cwd`; returns its exit code, output and the files it loaded. */
async function coreflow(args: string[], cwd: string, name: string) {
  const log = join(dir, `${name}.loaded`);
  await writeFile(log, '');
  const out = await exec(process.execPath, ['--import', pathToFileURL(register).href, bin, ...args], { cwd, env: { ...process.env, CF_LOADED: log } }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
  const loaded = (await readFile(log, 'utf8')).split('\n').filter((u) => u.startsWith('file:'));
  return { ...out, loaded };
}

t.test('--version prints the version in package.json', async (t) => {
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string };
  const out = await coreflow(['--version'], dir, 'version');
  t.equal(out.code, 0, out.stderr);
  t.equal(out.stdout, `coreflow ${pkg.version}\n`);
});

t.test('plan runs from dist/ and loads no TypeScript, no Cloudflare SDK, no control plane, no qenv', async (t) => {
  const out = await coreflow(['plan', '--spec', spec], dir, 'plan');
  t.equal(out.code, 2, out.stderr);
  t.match(out.stdout, `+ ${doc.cluster.name}-web`);
  const ours = out.loaded.filter((u) => u.startsWith(pathToFileURL(root).href));
  t.ok(ours.some((u) => u.endsWith('/dist/cli.js')), 'dist/cli.js');
  t.same(ours.filter((u) => !u.includes('/dist/') && !u.endsWith('/bin/coreflow.js')), [], 'nothing outside dist/');
  t.same(ours.filter((u) => u.endsWith('.ts') || u.includes('/tsx/')), [], 'no TypeScript, no tsx');
  const lazyParts = ['cloudflare-api', 'controlplane-source', 'controlplane-command', 'agent-command'];
  const built = await readdir(join(root, 'dist'));
  for (const part of lazyParts) t.ok(built.some((f) => f.startsWith(`${part}-`) && f.endsWith('.js')), `dist/ has its own chunk for ${part}`);
  const lazy = new RegExp(`/dist/(${lazyParts.join('|')})-[^/]+\\.js$|/@push\\.rocks/`);
  t.same(ours.filter((u) => lazy.test(u)), [], 'none of the lazily loaded parts');
});

t.test('an env overlay (.nogit/env.json) is read, through qenv, where one exists', async (t) => {
  const cwd = join(dir, 'with-overlay');
  await mkdir(join(cwd, '.nogit'), { recursive: true });
  await writeFile(join(cwd, '.nogit', 'env.json'), JSON.stringify({ COREFLOW_SPEC: spec }));
  const out = await coreflow(['plan'], cwd, 'overlay');
  t.equal(out.code, 2, out.stderr);
  t.match(out.stdout, `+ ${doc.cluster.name}-web`, 'the spec named in the overlay');
  t.ok(out.loaded.some((u) => u.includes('/@push.rocks/qenv/')), 'qenv loaded');
});

t.test('every worker entry (ts/**/*-worker.ts) is built into dist/ beside the chunks that start it', async (t) => {
  const workers = (await readdir(join(root, 'ts'), { recursive: true })).filter((f) => f.endsWith('-worker.ts'));
  if (workers.length === 0) {
    t.comment('no worker entry in ts/');
    return;
  }
  const built = await readdir(join(root, 'dist'));
  for (const w of workers) t.ok(built.includes(`${w.split('/').pop()!.replace(/\.ts$/, '.js')}`), w);
});
