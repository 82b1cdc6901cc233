import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { boundPort, startCoreflow, type CoreflowProc } from './controlplane-procs.ts';

/** What the agent logs when its spec file is rejected. */
export const SPEC_REJECTED = 'spec rejected; the last good spec stays in force';

/**
 * 10 MB of `x: xxxx...`: one multi-line plain scalar under an unknown key, which yaml takes over a
 * second to read on the development machine.
 */
export function badSpecText(): string {
  return `x: ${'xxxxxxxxxx\n  '.repeat(Math.ceil((10 * 1024 * 1024) / 13))}\n`;
}

/**
 * `coreflow agent` in standalone mode on `dir/spec.yaml`, invalid from the start (no cluster), so it
 * has nothing to reconcile and creates nothing; size and value limits raised to 16 MiB, so a 10 MB
 * file really goes through the parser and the schema. Resolves once the file is watched (without a
 * valid document the agent knows no cluster, so it takes no lease and starts no run).
 */
export async function startFileAgent(dir: string): Promise<{ agent: CoreflowProc; port: number; spec: string }> {
  const spec = join(dir, 'spec.yaml');
  await writeFile(spec, 'apiVersion: coreflow/v1\n');
  const sixteenMiB = String(16 * 1024 * 1024);
  const agent = startCoreflow(['agent', '--spec', spec, '--state-dir', join(dir, 'state'), '--host', '127.0.0.1', '--port', '0'], {
    COREFLOW_LOG_LEVEL: 'info',
    COREFLOW_SPEC_MAX_BYTES: sixteenMiB,
    COREFLOW_SPEC_MAX_VALUE_BYTES: sixteenMiB,
  });
  try {
    const port = await boundPort(agent, 'internal server listening');
    await agent.waitForLog('the first spec rejected', (l) => l.msg === SPEC_REJECTED);
    await agent.waitForLog('the file watched', (l) => l.msg === 'watching the spec file');
    return { agent, port, spec };
  } catch (err) {
    await agent.stop();
    throw err;
  }
}

/** The prober's source: GET /healthz every 10 ms (each waiting for its answer) until stdin ends, then print the latencies. */
const PROBER = `
const http = require('node:http');
const port = Number(process.argv[1]);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let probing = true;
process.stdin.on('end', () => (probing = false)).resume();
const healthz = () => new Promise((resolve, reject) => {
  const start = performance.now();
  http.get({ host: '127.0.0.1', port, path: '/healthz', agent }, (res) => {
    res.resume();
    res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - start) : reject(new Error('/healthz answered ' + res.statusCode))));
  }).on('error', reject);
});
(async () => {
  await healthz();
  process.stdout.write('probing\\n');
  const latencies = [];
  while (probing) {
    latencies.push(await healthz());
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  process.stdout.write(JSON.stringify(latencies) + '\\n');
  agent.destroy();
})();
`;

/**
 * A health checker in its own process (so the measuring side's own pauses do not count): asks
 * /healthz every 10 ms, each request waiting for its answer. `stop` resolves with every latency (ms).
 */
export async function startHealthProbe(port: number): Promise<{ stop: () => Promise<number[]> }> {
  const child = spawn(process.execPath, ['-e', PROBER, String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const output: string[] = [];
  const probing = new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the /healthz prober exited (${code}) before probing`)));
    lines.on('line', (line) => {
      output.push(line);
      if (line === 'probing') resolve();
    });
  });
  await probing;
  return {
    async stop() {
      const exited = once(child, 'exit');
      child.stdin.end();
      await exited;
      return JSON.parse(output.at(-1) ?? '[]') as number[];
    },
  };
}
