import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { boundPort, httpJson, startCoreflow } from '../helpers/controlplane-procs.ts';
import { upgradeStatus } from '../helpers/routing.ts';
import { cleanupCluster, connect, testDoc } from '../helpers/swarm.ts';

/**
 * The `_FILE` convention of the secret settings, through real `coreflow` processes: a value or
 * its file, never both; a missing file stops the start naming the file; a token read from a file
 * works like one given directly and never shows in logs or status.
 */

const { docker } = await connect();
const dir = await mkdtemp(join(tmpdir(), 'cf-secret-files-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

/** Every log line of a process as one text. */
const logText = (p: ReturnType<typeof startCoreflow>) => p.logs.map((l) => JSON.stringify(l)).join('\n');

t.test('both a value and its file: the start fails naming both, before Docker is touched', async (t) => {
  const file = join(dir, 'jc');
  await writeFile(file, 'machine-token-from-file\n');
  const both = startCoreflow(['agent', '--port', '0'], { CLOUDLY_URL: 'ws://127.0.0.1:1', JUMPCODE: 'direct-token', JUMPCODE_FILE: file, DOCKER_HOST: 'unix:///nonexistent.sock' });
  t.equal(await both.stop('SIGCONT'), 1);
  t.match(logText(both), /JUMPCODE \(--jumpcode\) and JUMPCODE_FILE \(--jumpcode-file\): both are set/);
  t.notMatch(logText(both), /direct-token|machine-token-from-file/, 'neither value is printed');

  const edge = startCoreflow(['agent', '--port', '0', '--spec', file], { COREFLOW_EDGE_TOKEN: '0123456789abcdef', COREFLOW_EDGE_TOKEN_FILE: file });
  t.equal(await edge.stop('SIGCONT'), 1);
  t.match(logText(edge), /COREFLOW_EDGE_TOKEN \(--edge-token\) and COREFLOW_EDGE_TOKEN_FILE \(--edge-token-file\): both are set/);
});

t.test('a missing or empty token file: the start fails naming the setting and the file', async (t) => {
  const missing = join(dir, 'no-such-token');
  const p = startCoreflow(['agent', '--port', '0'], { CLOUDLY_URL: 'ws://127.0.0.1:1', JUMPCODE_FILE: missing, DOCKER_HOST: 'unix:///nonexistent.sock' });
  t.equal(await p.stop('SIGCONT'), 1);
  t.match(logText(p), new RegExp(`cannot read the secret file ${missing} given by JUMPCODE_FILE \\(--jumpcode-file\\): ENOENT.*COREFLOW_ERR_SECRET_FILE`));
  t.notMatch(logText(p), /connected to Docker/, 'Docker was not reached');

  const empty = join(dir, 'empty');
  await writeFile(empty, '\n');
  const q = startCoreflow(['agent', '--port', '0', '--spec', empty], { COREFLOW_EDGE_TOKEN_FILE: empty });
  t.equal(await q.stop('SIGCONT'), 1);
  t.match(logText(q), /given by COREFLOW_EDGE_TOKEN_FILE \(--edge-token-file\): the file is empty/);
});

t.test('JUMPCODE_FILE and COREFLOW_EDGE_TOKEN_FILE work like the values, which never show', async (t) => {
  const marker = 'MARKER-jumpcode-7f3a9c1e2b';
  const edgeMarker = 'MARKER-edge-4d8e2a6b9c0f';
  const doc = testDoc('cfsecf');
  t.teardown(() => cleanupCluster(docker, doc.cluster.name));
  const spec = join(dir, 'spec.yaml');
  await writeFile(spec, stringify(doc));
  await writeFile(join(dir, 'cp-token'), `${marker}\n`);
  await writeFile(join(dir, 'jumpcode'), `${marker}\n`);
  await writeFile(join(dir, 'edge-token'), `${edgeMarker}\n`);
  const cp = startCoreflow(['controlplane', '--spec', spec, '--addr', '127.0.0.1:0', '--token-file', join(dir, 'cp-token')]);
  t.teardown(() => cp.stop());
  const cpPort = await boundPort(cp, 'control plane listening');
  const agent = startCoreflow(['agent', '--port', '0', '--state-dir', join(dir, 'state')], {
    CLOUDLY_URL: `ws://127.0.0.1:${cpPort}`,
    JUMPCODE_FILE: join(dir, 'jumpcode'),
    COREFLOW_EDGE_TOKEN_FILE: join(dir, 'edge-token'),
  });
  t.teardown(() => agent.stop());
  await agent.waitForLog('authenticated', (l) => l.msg === 'authenticated with the control plane');
  const port = await boundPort(agent, 'internal server listening');
  await agent.waitForLog('first run', (l) => l.msg === 'run finished');
  t.equal(await upgradeStatus(`ws://127.0.0.1:${port}/v1/edge`, edgeMarker), 101, 'an edge with the token from the file connects');
  t.equal(await upgradeStatus(`ws://127.0.0.1:${port}/v1/edge`, 'wrong-token-0123456789'), 401, 'a wrong token is refused');
  const status = await httpJson('GET', `http://127.0.0.1:${port}/v1/status`, undefined);
  t.equal(status.status, 200);
  t.equal(await agent.stop(), 0);
  const all = `${logText(agent)}\n${JSON.stringify(status.body)}`;
  t.notOk(all.includes(marker), 'the machine token is in no log line nor the status');
  t.notOk(all.includes(edgeMarker), 'the edge token is in no log line nor the status');
});
