/**
 * Reconnect after a control-plane outage (not asserted in tests): for each agent count (default 1
 * and 100), starts the reference control plane and that many simulated agents (the agent's real
 * control-plane client, ControlPlaneSource, in this process) on 127.0.0.1, lets them connect,
 * stops the control plane for --outage seconds, starts it again on the same port and prints how
 * long after it listens each agent is authenticated again: min, median, p90, max and the spread
 * (max - min) of the reconnects. At most 200 agents and 300 s of outage; stops by itself.
 * Usage: node --import=tsx bench/reconnect.ts [--agents 1,100] [--outage 60]
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { ControlPlane } from '../ts/controlplane/control-plane.ts';
import { loadConfig } from '../ts/config/config.ts';
import { silentLogger } from '../ts/observe/logger.ts';
import { ControlPlaneSource } from '../ts/sources/controlplane-source.ts';
import { DesiredState } from '../ts/sources/desired-state.ts';
import { testDoc } from '../test/helpers/swarm.ts';

const { values } = parseArgs({ options: { agents: { type: 'string', default: '1,100' }, outage: { type: 'string', default: '60' } } });
const counts = values.agents.split(',').map((n) => Math.min(200, Math.max(1, Number(n))));
const outageMs = Math.min(300, Math.max(0, Number(values.outage))) * 1000;
const token = 'reconnect-bench-token-0123456789';
// The agent's defaults (COREFLOW_RECONNECT_MAX_MS and the rest), as `coreflow agent` would use them.
const config = await loadConfig();
const guard = setTimeout(() => {
  process.stderr.write('reconnect bench: 20 minutes passed; stopping\n');
  process.exit(1);
}, 20 * 60_000);
guard.unref();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

async function waitUntil(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

async function run(count: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'coreflow-bench-reconnect-'));
  const specPath = join(dir, 'spec.yaml');
  await writeFile(specPath, stringify(testDoc('reconnect')));
  const controlPlane = (port: number) => new ControlPlane({ specPath, host: '127.0.0.1', port, token, log: silentLogger(), pingIntervalMs: config.pingIntervalMs });
  let cp = controlPlane(0);
  await cp.start();
  const port = cp.port;
  const agents = Array.from({ length: count }, (_, i) => new ControlPlaneSource({
    url: `ws://127.0.0.1:${port}`,
    token,
    stateDir: join(dir, `agent-${i}`),
    desired: new DesiredState(),
    log: silentLogger(),
    reconnectMaxMs: config.reconnectMaxMs,
    pingIntervalMs: config.pingIntervalMs,
    authRetryMs: config.authRetryMs,
  }));
  try {
    await Promise.all(agents.map((_, i) => mkdir(join(dir, `agent-${i}`))));
    await Promise.all(agents.map((a) => a.start()));
    await waitUntil('every agent connected', () => agents.every((a) => a.connected), 60_000);
    // Connected a while: the connection counts as healthy when it is lost.
    await sleep(6000);
    await cp.stop();
    await waitUntil('every agent to notice', () => agents.every((a) => !a.connected), 30_000);
    await sleep(outageMs);
    cp = controlPlane(port);
    await cp.start();
    const listening = performance.now();
    const back: (number | undefined)[] = agents.map(() => undefined);
    await waitUntil('every agent authenticated again', () => {
      agents.forEach((a, i) => {
        if (back[i] === undefined && a.connected) back[i] = performance.now() - listening;
      });
      return back.every((b) => b !== undefined);
    }, outageMs + 120_000);
    const sorted = (back as number[]).sort((a, b) => a - b);
    const f = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    console.log(
      `${count} agent(s), ${outageMs / 1000} s outage, reconnect cap ${config.reconnectMaxMs} ms: authenticated again after ` +
        `min ${f(sorted[0]!)}, median ${f(pct(sorted, 0.5))}, p90 ${f(pct(sorted, 0.9))}, max ${f(sorted.at(-1)!)} (spread ${f(sorted.at(-1)! - sorted[0]!)})`,
    );
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
    await cp.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

for (const count of counts) await run(count);
clearTimeout(guard);
