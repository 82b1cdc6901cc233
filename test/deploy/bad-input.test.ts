import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { agentTestImage } from '../helpers/image.ts';
import { runProcess, type ProcessOutput } from '../helpers/run-process.ts';
import { connect, testDoc } from '../helpers/swarm.ts';

/**
 * Mistakes in how the agent is run, each stopping it at start with exit 1 and a message naming
 * what to fix, with nothing in the swarm changed: no socket mounted (the image as a container),
 * a Docker Engine that is not a swarm manager (the second engine here, a real one outside any
 * swarm), a missing token file, a token given both as a value and as a file.
 */

t.setTimeout(10 * 60_000);
const root = new URL('../..', import.meta.url).pathname;
const { docker } = await connect();
const image = await agentTestImage();
const socket = '/var/run/docker.sock';
const gid = String((await stat(socket)).gid);
const NOSWARM = '/var/run/coreflow-noswarm.sock';

const dir = await mkdtemp(join(tmpdir(), 'cf-bad-input-'));
await chmod(dir, 0o755);
const doc = testDoc('cfbad');
const cluster = doc.cluster.name;
await writeFile(join(dir, 'spec.yaml'), stringify(doc), { mode: 0o644 });
t.teardown(() => rm(dir, { recursive: true, force: true }));

/** The agent image as a container (no network, the spec folder mounted read-only). */
const inImage = (opts: string[], args: string[] = ['agent']): Promise<ProcessOutput> =>
  runProcess('docker', ['run', '--rm', '--network', 'none', '-v', `${dir}:/spec:ro`, ...opts, image, ...args]);

/** `coreflow ARGS` as a process on the host. */
const cli = (args: string[], env: Record<string, string>): Promise<ProcessOutput> =>
  runProcess('node', ['bin/coreflow.js', ...args], { cwd: root, env: { ...process.env, ...env } });

/** Nothing of the test's cluster exists in the swarm: no network, service, secret or lease. */
async function untouched(t: { same: (found: unknown, wanted: unknown, msg: string) => unknown }): Promise<void> {
  const filters = { label: [`coreflow.cluster=${cluster}`] };
  const found = [
    ...(await docker.listServices({ filters })).map((s) => s.Spec?.Name),
    ...(await docker.listNetworks({ filters })).map((n) => n.Name),
    ...(await docker.listSecrets({ filters })).map((s) => s.Spec?.Name),
    ...(await docker.listConfigs({ filters })).map((c) => (c as { Spec?: { Name?: string } }).Spec?.Name),
  ];
  t.same(found, [], 'nothing in the swarm changed');
}

t.test('no socket mounted: exit 1, the message says to mount it', async (t) => {
  const out = await inImage(['-e', 'COREFLOW_SPEC=/spec/spec.yaml']);
  t.equal(out.code, 1, out.stderr);
  t.match(out.stderr, 'COREFLOW_ERR_DOCKER_UNREACHABLE');
  t.match(out.stderr, 'cannot reach the Docker Engine at unix:///var/run/docker.sock');
  t.match(out.stderr, 'the socket mounted (-v /var/run/docker.sock:/var/run/docker.sock)');
  await untouched(t);
});

t.test('the socket without its group: exit 1, permission denied on the socket', async (t) => {
  const out = await inImage(['-v', `${socket}:${socket}`, '-e', 'COREFLOW_SPEC=/spec/spec.yaml']);
  t.equal(out.code, 1, out.stderr);
  t.match(out.stderr, /COREFLOW_ERR_DOCKER_UNREACHABLE|EACCES|permission denied/);
  await untouched(t);
});

t.test('a node that is not a swarm manager: exit 1, the message says how to make it one', async (t) => {
  const out = await cli(['agent', '--port', '0', '--spec', join(dir, 'spec.yaml'), '--state-dir', join(dir, 'state')], { DOCKER_HOST: `unix://${NOSWARM}` });
  t.equal(out.code, 1, out.stderr);
  t.match(out.stderr, `the Docker Engine at unix://${NOSWARM} is not a swarm manager (swarm state: inactive)`);
  t.match(out.stderr, 'docker swarm init');
  t.match(out.stderr, 'docker node promote');
  t.match(out.stderr, 'COREFLOW_ERR_NOT_SWARM_MANAGER');
  t.notMatch(out.stderr, 'still running', 'the process ended by itself: a failed start stops what had started');
  const info = (await runProcess('docker', ['-H', `unix://${NOSWARM}`, 'info', '-f', '{{.Swarm.LocalNodeState}}'])).stdout.trim();
  t.equal(info, 'inactive', 'the engine was left as it was');
  await untouched(t);
});

t.test('a missing token file (in the image, socket mounted): exit 1, naming the setting and the file', async (t) => {
  const out = await inImage(['-v', `${socket}:${socket}`, '--group-add', gid, '-e', 'COREFLOW_SPEC=/spec/spec.yaml', '-e', 'COREFLOW_EDGE_TOKEN_FILE=/run/secrets/edge_token']);
  t.equal(out.code, 1, out.stderr);
  t.match(out.stderr, 'cannot read the secret file /run/secrets/edge_token given by COREFLOW_EDGE_TOKEN_FILE (--edge-token-file): ENOENT');
  t.match(out.stderr, 'COREFLOW_ERR_SECRET_FILE');
  const cp = await inImage(['-v', `${socket}:${socket}`, '--group-add', gid, '-e', 'CLOUDLY_URL=ws://127.0.0.1:1', '-e', 'JUMPCODE_FILE=/run/secrets/jumpcode']);
  t.equal(cp.code, 1, cp.stderr);
  t.match(cp.stderr, 'cannot read the secret file /run/secrets/jumpcode given by JUMPCODE_FILE (--jumpcode-file): ENOENT');
  await untouched(t);
});

t.test('both JUMPCODE and JUMPCODE_FILE: exit 1, naming both', async (t) => {
  await writeFile(join(dir, 'jumpcode'), 'a-machine-token-in-a-file\n', { mode: 0o644 });
  const out = await inImage(['-v', `${socket}:${socket}`, '--group-add', gid, '-e', 'CLOUDLY_URL=ws://127.0.0.1:1', '-e', 'JUMPCODE=a-machine-token-value', '-e', 'JUMPCODE_FILE=/spec/jumpcode']);
  t.equal(out.code, 1, out.stderr);
  t.match(out.stderr, 'JUMPCODE (--jumpcode) and JUMPCODE_FILE (--jumpcode-file): both are set; give the value or the file that holds it, not both');
  t.notMatch(out.stderr, /a-machine-token/, 'neither token is printed');
  await untouched(t);
});
