// The agent image, built here the way CI and a machine without a registry build it (the base image
// from scripts/base-image.sh, then the Dockerfile). Runs the built image against the local swarm
// with the socket mounted, the container without a network.
import { chmod, mkdir, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { buildAgentImage } from './helpers/image.ts';
import { runProcess } from './helpers/run-process.ts';
import { connect, TEST_IMAGE, testDoc } from './helpers/swarm.ts';

// Building the base image takes minutes on a fresh machine (seconds once it exists).
t.setTimeout(30 * 60_000);
const root = new URL('..', import.meta.url).pathname;
const { docker } = await connect();

const run = (cmd: string, args: string[]) => runProcess(cmd, args, { cwd: root });

const doc = testDoc('image');
const id = doc.cluster.name;
const image = `coreflow-test/agent:${id}`;
t.teardown(() => run('docker', ['image', 'rm', image]));

t.test('the image builds from the base image of scripts/base-image.sh', async (t) => {
  await t.resolves(buildAgentImage(image));
});

const socket = '/var/run/docker.sock';
const gid = String((await stat(socket)).gid);
/** `docker run` of the image without a network, with the socket and the socket's group. */
const inImage = (args: string[], opts: string[] = []) =>
  run('docker', ['run', '--rm', '--network', 'none', '-v', `${socket}:${socket}`, '--group-add', gid, ...opts, image, ...args]);

t.test('coreflow --version prints the package version', async (t) => {
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string };
  const out = await inImage(['--version']);
  t.equal(out.code, 0, out.stderr);
  t.equal(out.stdout.trim(), `coreflow ${pkg.version}`);
});

t.test('runs as a non-root user, from the compiled output and production dependencies only', async (t) => {
  const out = await inImage(
    ['-e', "const fs=require('fs');console.log(JSON.stringify({uid:process.getuid(),ts:fs.existsSync('/app/ts'),dist:fs.existsSync('/app/dist/cli.js'),dev:['tsx','typescript','tap','esbuild'].filter(p=>fs.existsSync('/app/node_modules/'+p))}))"],
    ['--entrypoint', 'node'],
  );
  t.equal(out.code, 0, out.stderr);
  t.same(JSON.parse(out.stdout), { uid: 1000, ts: false, dist: true, dev: [] });
  const health = JSON.parse((await run('docker', ['image', 'inspect', '-f', '{{json .Config.Healthcheck}}', image])).stdout) as { Test?: string[] } | null;
  t.match(health?.Test?.join(' ') ?? '', '/healthz', 'keeps its HEALTHCHECK');
});

t.test('coreflow plan inside the image reads the local swarm and changes nothing', async (t) => {
  doc.services = [{ name: `${id}-web`, image: TEST_IMAGE, command: ['sleep', '3600'], scaleFactor: 0 }];
  const dir = await mkdtemp(join(tmpdir(), 'cf-image-'));
  await writeFile(join(dir, 'spec.yaml'), JSON.stringify(doc), { mode: 0o644 });
  await chmod(dir, 0o755); // the image's user (uid 1000) reads it
  const out = await inImage(['plan', '--spec', '/spec/spec.yaml'], ['-v', `${dir}:/spec:ro`]);
  t.equal(out.code, 2, `exit 2: changes planned. ${out.stderr}`);
  t.match(out.stdout, `+ ${id}-web`);
  t.match(out.stdout, 'Plan: 3 to create, 0 to update, 0 to delete');
  // The same through a .nogit overlay, read by qenv from the image's node_modules.
  await mkdir(join(dir, 'nogit'));
  await writeFile(join(dir, 'nogit', 'env.json'), JSON.stringify({ COREFLOW_SPEC: '/spec/spec.yaml' }), { mode: 0o644 });
  await chmod(join(dir, 'nogit'), 0o755);
  const overlay = await inImage(['plan'], ['-v', `${dir}:/spec:ro`, '-v', `${join(dir, 'nogit')}:/app/.nogit:ro`]);
  t.equal(overlay.code, 2, `the spec named in /app/.nogit/env.json. ${overlay.stderr}`);
  t.match(overlay.stdout, `+ ${id}-web`);
  const services = await docker.listServices({ filters: { label: [`coreflow.cluster=${id}`] } });
  t.equal(services.length, 0, 'plan created nothing');
});
