import { get } from 'node:http';
import t from 'tap';
import { EventBus } from '../../ts/observe/events.ts';
import { silentLogger } from '../../ts/observe/logger.ts';
import { AgentMetrics } from '../../ts/observe/metrics.ts';
import { buildStatus } from '../../ts/observe/status.ts';
import { InternalServer } from '../../ts/server/internal-server.ts';
import { registerObserveRoutes } from '../../ts/server/observe-routes.ts';
import { parsePrometheusText, sampleValue } from '../helpers/prom-text.ts';

const bus = new EventBus();
const metrics = new AgentMetrics();
const server = new InternalServer({ host: '127.0.0.1', port: 0 }, silentLogger());
registerObserveRoutes(server.router, { bus, metrics, status: () => buildStatus({ result: undefined, health: new Map(), busy: false, waiting: new Set() }) });
await server.start();
t.teardown(() => server.stop());
const base = `http://127.0.0.1:${server.port}`;
for (let i = 1; i <= 5; i++) bus.emit({ type: 'plan.start', resourceType: 'x', summary: `e${i}` });

/** Reads SSE frames until `n` data frames arrived. */
function readFrames(headers: Record<string, string>, path: string, n: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const frames: string[] = [];
    const req = get(base + path, { headers }, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buf += c;
        const parts = buf.split('\n\n');
        buf = parts.pop()!;
        for (const p of parts) if (p.includes('data: ')) frames.push(p);
        if (frames.length >= n) {
          req.destroy();
          resolve(frames);
        }
      });
    });
    req.on('error', reject);
  });
}

t.test('SSE frames carry id, event and data; Last-Event-ID resumes', async (t) => {
  const frames = await readFrames({}, '/v1/events?last=2', 2);
  t.match(frames[0], /^id: 4\nevent: plan\.start\ndata: \{.*"summary":"e4"/);
  const resumed = await readFrames({ 'last-event-id': '3' }, '/v1/events', 2);
  t.match(resumed[0], /"summary":"e4"/);
  t.match(resumed[1], /"summary":"e5"/);
});

t.test('bad query and the other endpoints', async (t) => {
  const bad = await fetch(`${base}/v1/events?last=-1`);
  t.equal(bad.status, 400);
  let routes = 3;
  metrics.sampleOnScrape(() => metrics.routes.set(routes));
  metrics.sampleOnScrape(() => {
    throw new Error('a broken sampler');
  });
  const m = await fetch(`${base}/metrics`);
  t.equal(m.status, 200);
  const parsed = parsePrometheusText(await m.text());
  t.ok(parsed.types.get('coreflow_process_cpu_seconds_total'), 'process metrics with the coreflow_ prefix');
  t.equal(sampleValue(parsed.samples, 'coreflow_routes'), 3, 'sampled at scrape time');
  routes = 5;
  t.equal(sampleValue(parsePrometheusText(await (await fetch(`${base}/metrics`)).text()).samples, 'coreflow_routes'), 5);
  const s = (await (await fetch(`${base}/v1/status`)).json()) as { overall: { message: string } };
  t.equal(s.overall.message, 'no run yet');
});
