/**
 * From `docker stack deploy` of the agent to its first reconcile (not asserted in tests): deploys
 * examples/coreflow-stack.yml with the agent image (built once per content, see agentTestImage),
 * driven by `coreflow controlplane` on the host's docker_gwbridge address, and times, per run:
 * the deploy command, the agent's container running, and the first run report on the control
 * plane's /v1/events. Each run is a new stack (an empty state volume). Removes what it creates.
 * Usage: node --import=tsx bench/stack-deploy.ts [--runs 3]
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { deployAgentStack, gatewayAddress } from '../test/helpers/agent-stack.ts';
import { boundPort, followEvents, startCoreflow } from '../test/helpers/controlplane-procs.ts';
import { agentTestImage } from '../test/helpers/image.ts';
import { cleanupCluster, connect, testDoc, waitFor } from '../test/helpers/swarm.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const runs = Math.min(10, Math.max(1, Number(values.runs)));
const { docker } = await connect();
const t0 = Date.now();
const image = await agentTestImage();
process.stderr.write(`agent image ${image} ready in ${Date.now() - t0} ms\n`);
const gateway = await gatewayAddress();
const dir = await mkdtemp(join(tmpdir(), 'cf-bench-stack-'));
const doc = testDoc('benchstk');
const token = randomBytes(24).toString('hex');
await writeFile(join(dir, 'cp.token'), `${token}\n`);
await writeFile(join(dir, 'spec.yaml'), stringify(doc));
const cp = startCoreflow(['controlplane', '--spec', join(dir, 'spec.yaml'), '--addr', `${gateway}:0`, '--token-file', join(dir, 'cp.token')], { COREFLOW_LOG_LEVEL: 'info' });
const port = await boundPort(cp, 'control plane listening');
const events = followEvents(`http://${gateway}:${port}/v1/events`, token);
await events.opened;

const rows: string[] = [];
try {
  for (let i = 0; i < runs; i++) {
    const seen = events.events.length;
    const stack = `benchstk${randomBytes(3).toString('hex')}`;
    const s = await deployAgentStack({ stack, image, cloudlyUrl: `ws://${gateway}:${port}`, jumpcode: token });
    try {
      const running = await waitFor('the agent container', async () => {
        const list = await docker.listContainers({ filters: { label: [`com.docker.swarm.service.name=${s.service}`], status: ['running'] } });
        return list.length > 0 ? Date.now() : undefined;
      }, 120_000, 50);
      const reported = await waitFor('the first run report', async () => (events.events.slice(seen).some((e) => e.type === 'report') ? Date.now() : undefined), 120_000, 20);
      const row = `run ${i + 1}: docker stack deploy returned after ${s.deployedAt - s.deployStartedAt} ms; container running after ${running - s.deployStartedAt} ms; first reconcile reported after ${reported - s.deployStartedAt} ms`;
      rows.push(row);
      process.stderr.write(`${row}\n`);
    } finally {
      await s.remove();
    }
  }
} finally {
  events.close();
  await cp.stop();
  await cleanupCluster(docker, doc.cluster.name);
  await rm(dir, { recursive: true, force: true });
}
process.stdout.write(`${rows.join('\n')}\n`);
