import { z } from 'zod';

/** The protocol version both sides check on connect (docs/protocol.md). */
export const PROTOCOL_VERSION = 1;

/** The largest frame either side accepts (the `ws` maxPayload) or sends: 1 MiB. */
export const MAX_FRAME_BYTES = 1024 * 1024;

/**
 * Room left in a frame for the envelope around a desired-state document (method, correlation id,
 * specHash, push reason): a document of at most MAX_DOCUMENT_BYTES always fits in one frame.
 */
export const ENVELOPE_ALLOWANCE_BYTES = 4096;

/** The largest desired-state document (as JSON) the protocol delivers: getClusterConfig and pushClusterConfig carry it whole. */
export const MAX_DOCUMENT_BYTES = MAX_FRAME_BYTES - ENVELOPE_ALLOWANCE_BYTES;

/** A call without its own timeout fails after this long. */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** WebSocket close codes of the protocol. 1009 (too big) and 1008 (policy) are the standard ones. */
export const CLOSE_CODES = {
  tooBig: 1009,
  policy: 1008,
  auth: 4001,
  version: 4002,
  authTimeout: 4003,
  shutdown: 1001,
} as const;

export const errorInfoSchema = z.strictObject({
  text: z.string(),
  data: z.record(z.string(), z.unknown()).optional(),
});

export const retrySchema = z.strictObject({
  waitForMs: z.number().int().min(0),
  reason: z.string(),
});

/** One frame: a request, or the response to one (matched by correlation.id). */
export const envelopeSchema = z.strictObject({
  method: z.string().min(1).max(128),
  request: z.unknown(),
  response: z.unknown().optional(),
  correlation: z.strictObject({
    id: z.string().min(1).max(128),
    phase: z.enum(['request', 'response']),
  }),
  error: errorInfoSchema.optional(),
  retry: retrySchema.optional(),
});

export type Envelope = z.infer<typeof envelopeSchema>;
export type ErrorInfo = z.infer<typeof errorInfoSchema>;
