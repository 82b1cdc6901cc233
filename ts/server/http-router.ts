import type { IncomingMessage, ServerResponse } from 'node:http';
import { CoreflowError, errorText, type ErrorCode } from '../errors.ts';

export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;

/** The largest JSON body any endpoint accepts. */
export const MAX_BODY_BYTES = 1024 * 1024;

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendText(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * Reads a JSON body of at most `limit` bytes; throws HttpErrors with status 400 (not JSON) or 413.
 * A body declared larger (Content-Length) is refused before any of it is read, so an oversized
 * request costs no memory; the 413 answer closes the connection instead of draining the rest.
 */
export async function readJson(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<unknown> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) throw new HttpError(413, `body of ${declared} bytes is larger than ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, `body larger than ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new HttpError(400, `body is not valid JSON: ${errorText(err)}`);
  }
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** Segment `index` of a URL's path, decoded (for routes with a `{name}` segment). */
export function pathSegment(url: URL, index: number): string {
  return decodeURIComponent(url.pathname.split('/')[index] ?? '');
}

/**
 * A tiny method + exact-path router (a `{name}` segment matches any one segment). Unknown paths get 404, known paths with another method 405,
 * thrown HttpErrors their status, anything else 500 without internals.
 */
export class Router {
  private readonly routes = new Map<string, Map<string, Handler>>();

  add(method: string, path: string, handler: Handler): this {
    let byMethod = this.routes.get(path);
    if (!byMethod) this.routes.set(path, (byMethod = new Map()));
    byMethod.set(method.toUpperCase(), handler);
    return this;
  }

  /** The routes of a path, exact first; a `{name}` segment of a registered path matches any one segment. */
  private lookup(path: string): Map<string, Handler> | undefined {
    const exact = this.routes.get(path);
    if (exact) return exact;
    const parts = path.split('/');
    for (const [pattern, byMethod] of this.routes) {
      if (!pattern.includes('{')) continue;
      const want = pattern.split('/');
      if (want.length === parts.length && want.every((w, i) => (w.startsWith('{') && w.endsWith('}') ? parts[i] !== '' : w === parts[i]))) return byMethod;
    }
    return undefined;
  }

  handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const byMethod = this.lookup(url.pathname);
    const handler = byMethod?.get(req.method ?? 'GET') ?? (req.method === 'HEAD' ? byMethod?.get('GET') : undefined);
    try {
      if (!byMethod) throw new HttpError(404, `no route ${url.pathname}`);
      if (!handler) throw new HttpError(405, `${req.method} not allowed on ${url.pathname}`);
      await handler(req, res, url);
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof HttpError && err.status === 413) res.setHeader('connection', 'close');
      // Every error answer carries its catalogue code beside the text (docs/errors.md).
      if (err instanceof HttpError) {
        const code: ErrorCode = err.status === 401 ? 'COREFLOW_ERR_HTTP_UNAUTHORIZED' : err.status === 503 ? 'COREFLOW_ERR_NOT_READY' : err.status < 500 ? 'COREFLOW_ERR_HTTP_REQUEST' : 'COREFLOW_ERR_UNEXPECTED';
        sendJson(res, err.status, { error: err.message, code, ...(err.details ? { details: err.details } : {}) });
      } else if (err instanceof CoreflowError) sendJson(res, err.terminal ? 400 : 503, { error: err.message, code: err.code });
      else sendJson(res, 500, { error: 'internal error', code: 'COREFLOW_ERR_UNEXPECTED' });
    }
  };
}
