import { randomUUID } from 'node:crypto';
import { z } from 'zod';

/**
 * The wire envelope edge proxies speak (the same as the control plane's, docs/protocol.md):
 * `{ method, request, response, correlation: { id, phase }, error?, retry? }`. A request goes out
 * with phase "request" and response null; the peer answers with the same id, phase "response"
 * and either a response or an error. This file is the only place in routing that knows the
 * envelope, so it can be swapped for the shared protocol peer.
 */
export const envelopeSchema = z.object({
  method: z.string().min(1),
  request: z.unknown(),
  response: z.unknown(),
  correlation: z.object({ id: z.string().min(1), phase: z.enum(['request', 'response']) }),
  error: z.object({ text: z.string(), code: z.string().optional() }).nullish(),
  retry: z.object({ waitForMs: z.number() }).nullish(),
});

export type Envelope = z.output<typeof envelopeSchema>;

export function requestEnvelope(method: string, request: unknown, id: string = randomUUID()): Envelope {
  return { method, request, response: null, correlation: { id, phase: 'request' } };
}

export function responseEnvelope(to: Envelope, response: unknown): Envelope {
  return { method: to.method, request: to.request, response, correlation: { id: to.correlation.id, phase: 'response' } };
}

export function errorEnvelope(to: Pick<Envelope, 'method' | 'correlation'>, text: string, code?: string): Envelope {
  return { method: to.method, request: null, response: null, correlation: { id: to.correlation.id, phase: 'response' }, error: { text, ...(code ? { code } : {}) } };
}

/** Parses one frame; undefined when it is not an envelope. */
export function parseEnvelope(data: string): Envelope | undefined {
  try {
    const r = envelopeSchema.safeParse(JSON.parse(data));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** The one method the agent calls on edge proxies. */
export const UPDATE_ROUTING = 'updateRouting';

/** The edge's answer to updateRouting. */
export const updateRoutingResponseSchema = z.object({
  status: z.enum(['ok', 'error']),
  errorText: z.string().optional(),
});

export type UpdateRoutingResponse = z.output<typeof updateRoutingResponseSchema>;
