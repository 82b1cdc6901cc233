import type { ServerResponse } from 'node:http';

export type ControlPlaneEventType = 'state' | 'agent' | 'push' | 'report' | 'plan';

/** Every event carries why and when; the rest depends on the type (docs/protocol.md). */
export interface ControlPlaneEvent {
  reason: string;
  time: string;
  [key: string]: unknown;
}

/**
 * Server-Sent Events to every follower of /v1/events. A follower that cannot keep up (its socket
 * buffer is full) is dropped rather than buffered without limit.
 */
export class EventHub {
  private readonly clients = new Set<ServerResponse>();
  private readonly keepalive: NodeJS.Timeout;

  constructor(keepaliveMs = 15_000) {
    this.keepalive = setInterval(() => {
      for (const res of this.clients) res.write(': keepalive\n\n');
    }, keepaliveMs);
    this.keepalive.unref();
  }

  /** Opens an SSE response and sends it `first` as its first event. */
  follow(res: ServerResponse, first: { type: ControlPlaneEventType; data: ControlPlaneEvent }): void {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
    this.write(res, first.type, first.data);
  }

  publish(type: ControlPlaneEventType, data: { reason: string; [key: string]: unknown }): void {
    const event: ControlPlaneEvent = { time: new Date().toISOString(), ...data };
    for (const res of this.clients) this.write(res, type, event);
  }

  private write(res: ServerResponse, type: string, data: ControlPlaneEvent): void {
    if (res.writableLength > 8 * 1024 * 1024) {
      res.destroy();
      this.clients.delete(res);
      return;
    }
    res.write(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  close(): void {
    clearInterval(this.keepalive);
    for (const res of this.clients) res.end();
    this.clients.clear();
  }
}
