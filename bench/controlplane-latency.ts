/**
 * How fast a change travels through the control-plane link (not asserted in tests):
 *   - PATCH /v1/services/update -> the agent's report on /v1/events, and -> the service updated in
 *     the swarm (its spec, not its tasks), over N changes;
 *   - control plane killed and restarted -> the agent authenticated again.
 * Real processes on loopback (`node bin/coreflow.js controlplane|agent`), the local swarm.
 * Usage: node --import=tsx bench/controlplane-latency.ts [--changes 10]. Cleans up after itself.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { boundPort, followEvents, httpJson, startCoreflow, type CoreflowProc } from '../test/helpers/controlplane-procs.ts';
import { cleanupCluster, connect, TEST_IMAGE, testDoc } from '../test/helpers/swarm.ts';
import { median } from './stats.ts';

const { values } = parseArgs({ options: { changes: { type: 'string', default: '10' } } });
const changes = Number(values.changes);
const { docker } = await connect();
const doc = testDoc('benchcp');
const web = `${doc.cluster.name}-web`;
const dir = await mkdtemp(join(tmpdir(), 'coreflow-bench-cp-'));
const token = `bench-${doc.cluster.name}-0123456789`;
await writeFile(join(dir, 'spec.yaml'), stringify(doc));
await writeFile(join(dir, 'token'), token);
const procs: CoreflowProc[] = [];
const start = (args: string[], env: Record<string, string> = {}) => {
  const p = startCoreflow(args, { COREFLOW_LOG_LEVEL: 'info', ...env });
  procs.push(p);
  return p;
};
const max = (xs: number[]) => Math.max(...xs);

try {
  let cp = start(['controlplane', '--spec', join(dir, 'spec.yaml'), '--addr', '127.0.0.1:0', '--token-file', join(dir, 'token')]);
  const port = await boundPort(cp, 'control plane listening');
  const agent = start(['agent', '--host', '127.0.0.1', '--port', '0', '--state-dir', join(dir, 'state')], {
    CLOUDLY_URL: `ws://127.0.0.1:${port}`,
    JUMPCODE: token,
    COREFLOW_RECONNECT_MAX_MS: '2000',
  });
  await agent.waitForLog('first run', (l) => l.msg === 'run finished');
  const events = followEvents(`http://127.0.0.1:${port}/v1/events`, token);
  await events.opened;
  const toReport: number[] = [];
  const toSwarm: number[] = [];
  for (let i = 0; i < changes; i++) {
    const t0 = performance.now();
    const res = await httpJson('PATCH', `http://127.0.0.1:${port}/v1/services/update`, token, {
      service: { name: web, image: TEST_IMAGE, command: ['sleep', '3600'], scaleFactor: 0, environment: { N: String(i) } },
    });
    const hash = String(res.body.specHash);
    let swarmAt = 0;
    while (performance.now() - t0 < 30_000) {
      if (!swarmAt) {
        const [svc] = await docker.listServices({ filters: { name: [web] } });
        const env = svc?.Spec?.TaskTemplate && 'ContainerSpec' in svc.Spec.TaskTemplate ? svc.Spec.TaskTemplate.ContainerSpec?.Env ?? [] : [];
        if (env.includes(`N=${i}`)) swarmAt = performance.now();
      }
      const report = events.events.find((e) => e.type === 'report' && (e.data.run as { specHash: string }).specHash === hash);
      if (swarmAt && report) {
        toReport.push(performance.now() - t0);
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    toSwarm.push(swarmAt - t0);
  }
  events.close();
  await cp.stop('SIGKILL');
  const authBefore = agent.logs.filter((l) => l.msg === 'authenticated with the control plane').length;
  const t1 = performance.now();
  cp = start(['controlplane', '--spec', join(dir, 'spec.yaml'), '--addr', `127.0.0.1:${port}`, '--token-file', join(dir, 'token')]);
  await boundPort(cp, 'control plane listening');
  const listening = performance.now() - t1;
  await agent.waitForLog('reconnected', () => agent.logs.filter((l) => l.msg === 'authenticated with the control plane').length > authBefore);
  const reconnect = performance.now() - t1;
  process.stdout.write(
    [
      `PATCH -> service spec updated in the swarm, ${changes} changes: median ${median(toSwarm).toFixed(0)} ms, max ${max(toSwarm).toFixed(0)} ms`,
      `PATCH -> agent report on /v1/events, ${changes} changes: median ${median(toReport).toFixed(0)} ms, max ${max(toReport).toFixed(0)} ms`,
      `control plane restarted -> listening after ${listening.toFixed(0)} ms, agent authenticated again after ${reconnect.toFixed(0)} ms (backoff cap 2 s)`,
    ].join('\n') + '\n',
  );
} finally {
  for (const p of procs) await p.stop('SIGKILL');
  await cleanupCluster(docker, doc.cluster.name);
}
