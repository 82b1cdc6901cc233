import type Docker from 'dockerode';
import { CoreflowError } from '../errors.ts';
import { operationOf } from './api-calls.ts';

export interface DockerRequest {
  method: 'GET' | 'POST' | 'DELETE' | 'PUT';
  path: string;
  query?: Record<string, string | number | boolean>;
  body?: unknown;
  /** Base64url registry auth for the X-Registry-Auth header. */
  registryAuth?: string;
  /** Aborts the request (the run stopping or timing out); the connection's deadline applies as well. */
  signal?: AbortSignal;
}

interface ModemError {
  statusCode?: number;
  json?: { message?: string } | null;
  message?: string;
}

/** Docker's own message for a failed request, without dockerode's "(HTTP code ...)" prefix. */
export function dockerMessage(err: unknown): string {
  const e = err as ModemError;
  return e?.json?.message ?? String(e?.message ?? err).replace(/^\(HTTP code \d+\)\s*[\w ]*-\s*/, '').trim();
}

export function dockerStatus(err: unknown): number {
  return Number((err as ModemError)?.statusCode ?? 0);
}

/**
 * One request to the Engine API with an explicit query and body (dockerode's helpers send the
 * body as query parameters too). Errors become COREFLOW_ERR_DOCKER_API with Docker's message;
 * a coded error of the connection (no answer before its deadline) is passed on as it is.
 */
export function dockerRequest<T = unknown>(docker: Docker, req: DockerRequest): Promise<T> {
  const path = `${req.path}?`;
  const options: Record<string, unknown> = { _query: req.query ?? {} };
  if (req.body !== undefined) options._body = req.body;
  return new Promise<T>((resolve, reject) => {
    const modem = docker.modem as unknown as { dial: (o: unknown, cb: (err: unknown, data: unknown) => void) => void };
    modem.dial(
      {
        path,
        method: req.method,
        options,
        ...(req.registryAuth ? { authconfig: { key: req.registryAuth } } : {}),
        ...(req.signal ? { abortSignal: req.signal } : {}),
        statusCodes: { 200: true, 201: true, 204: true, 304: true, 400: 'bad parameter', 404: 'not found', 409: 'conflict', 500: 'server error', 503: 'node is not part of a swarm' },
      },
      (err, data) => {
        if (err instanceof CoreflowError) reject(err);
        else if (err) {
          reject(
            new CoreflowError(
              'COREFLOW_ERR_DOCKER_API',
              { operation: operationOf(req.method, req.path), status: dockerStatus(err), details: dockerMessage(err) },
              { cause: err },
            ),
          );
        } else resolve(data as T);
      },
    );
  });
}
