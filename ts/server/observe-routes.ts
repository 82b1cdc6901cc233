import type { ServerResponse } from 'node:http';
import type { CoreflowEvent, EventBus } from '../observe/events.ts';
import type { AgentMetrics } from '../observe/metrics.ts';
import type { AgentStatus } from '../observe/status.ts';
import { HttpError, sendJson, sendText, type Router } from './http-router.ts';

/** How many recent events a new /v1/events client gets unless it asks (?last=N). */
export const DEFAULT_REPLAY = 50;
const HEARTBEAT_MS = 15_000;

function writeEvent(res: ServerResponse, e: CoreflowEvent): void {
  res.write(`id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
}

/**
 * The observability endpoints of the internal server:
 * - GET /metrics: Prometheus text format;
 * - GET /v1/status: per object and overall sync / health / operation (JSON);
 * - GET /v1/events: Server-Sent Events of the event bus; the last N events first (?last=N,
 *   default 50, or those after the Last-Event-ID header), then live; a comment line every 15 s.
 */
export function registerObserveRoutes(router: Router, deps: { metrics: AgentMetrics; status: () => AgentStatus; bus: EventBus }): void {
  router.add('GET', '/metrics', async (_req, res) => {
    sendText(res, 200, await deps.metrics.text(), deps.metrics.contentType);
  });
  router.add('GET', '/v1/status', (_req, res) => sendJson(res, 200, deps.status()));
  router.add('GET', '/v1/events', (req, res, url) => {
    const lastParam = url.searchParams.get('last');
    const last = lastParam === null ? DEFAULT_REPLAY : Number(lastParam);
    if (!Number.isInteger(last) || last < 0) throw new HttpError(400, 'last: expected a whole number of events');
    const after = Number(req.headers['last-event-id'] ?? NaN);
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write(': coreflow events\n\n');
    const replay = Number.isFinite(after) ? deps.bus.recent().filter((e) => e.seq > after) : deps.bus.recent(last);
    for (const e of replay) writeEvent(res, e);
    const unsubscribe = deps.bus.subscribe((e) => writeEvent(res, e));
    const heartbeat = setInterval(() => res.write(': ping\n\n'), HEARTBEAT_MS);
    const close = () => {
      clearInterval(heartbeat);
      unsubscribe();
    };
    // The response closes when the client goes away or the server stops (req 'close' can fire
    // as soon as the request is read, so it is not the signal).
    res.on('close', close);
  });
}
