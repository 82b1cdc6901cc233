import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readEnv } from '../config/env.ts';
import { readTokenFile } from '../controlplane/token.ts';
import { CoreflowError, errorText } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import { backoffDelay } from '../backoff.ts';
import type { CliFlags } from './flags.ts';
import { formatEvent } from './format-event.ts';

/** The events URL for `--controller 127.0.0.1:4400` or a full http(s) URL. */
export function eventsUrl(controller: string): URL {
  const base = /^https?:\/\//.test(controller) ? controller : `http://${controller}`;
  return new URL('/v1/events', base);
}

/** Splits an SSE byte stream into events (type + parsed JSON data). */
export class SseParser {
  private buffer = '';
  constructor(private readonly onEvent: (type: string, data: Record<string, unknown>) => void) {}

  push(chunk: string): void {
    this.buffer += chunk;
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      let type = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) type = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
      }
      if (data.length === 0) continue;
      try {
        this.onEvent(type, JSON.parse(data.join('\n')) as Record<string, unknown>);
      } catch {
        this.onEvent(type, { reason: data.join('\n') });
      }
    }
  }
}

/**
 * `coreflow controller watch --controller HOST:PORT`: follows /v1/events and prints each event for a
 * person (`--json`: one JSON object per line). Reconnects with backoff when the stream drops; a
 * wrong token ends with exit code 1. Token: --token-file FILE or COREFLOW_CONTROLLER_TOKEN.
 */
export async function controllerWatchCommand(flags: CliFlags, log: Logger): Promise<number> {
  const controller = typeof flags.extra.controller === 'string' ? flags.extra.controller : '127.0.0.1:4400';
  const tokenFile = flags.extra['token-file'];
  const token = typeof tokenFile === 'string' ? await readTokenFile(tokenFile) : (await readEnv(['COREFLOW_CONTROLLER_TOKEN'])).COREFLOW_CONTROLLER_TOKEN;
  if (!token) throw new CoreflowError('COREFLOW_ERR_USAGE', { details: 'the control plane API needs a token: --token-file FILE or COREFLOW_CONTROLLER_TOKEN' });
  const url = eventsUrl(controller);
  const print = (type: string, data: Record<string, unknown>) =>
    process.stdout.write(flags.json ? `${JSON.stringify({ event: type, ...data })}\n` : `${formatEvent(type, data)}\n`);
  let attempt = 0;
  let stopped = false;
  let current: IncomingMessage | undefined;
  const stop = () => {
    stopped = true;
    current?.destroy();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  while (!stopped) {
    const outcome = await new Promise<'ended' | 'unauthorized'>((resolve) => {
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(url, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } }, (res) => {
        current = res;
        if (res.statusCode === 401) {
          res.resume();
          resolve('unauthorized');
          return;
        }
        if (res.statusCode !== 200) {
          log.warn({ status: res.statusCode }, 'unexpected answer from the control plane');
          res.resume();
          res.on('end', () => resolve('ended'));
          return;
        }
        attempt = 0;
        const parser = new SseParser(print);
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => parser.push(chunk));
        res.on('close', () => resolve('ended'));
      });
      req.on('error', (err) => {
        if (!stopped) log.warn({ err: errorText(err), url: url.toString() }, 'cannot reach the control plane');
        resolve('ended');
      });
      req.end();
    });
    if (outcome === 'unauthorized') {
      process.stderr.write('coreflow controller watch: the control plane rejected the token (401)\n');
      return 1;
    }
    if (stopped) break;
    const delay = backoffDelay(attempt++, { baseMs: 1000, capMs: 30_000 });
    log.warn({ retryInMs: delay }, 'event stream ended; reconnecting');
    await new Promise((r) => setTimeout(r, delay));
  }
  return 0;
}
