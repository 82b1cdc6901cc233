import { parentPort } from 'node:worker_threads';
import { errorText, isCoreflowError, type ErrorCode, type ErrorParams } from '../errors.ts';
import type { SpecLimits } from './limits.ts';
import { loadSpecFile, validateSpec, type LoadedSpec } from './parse.ts';
import { parseSpec } from './spec-text.ts';
import { API_VERSION } from './schema.ts';

/**
 * The spec parser's worker thread: reads, parses and validates one document per request, so that
 * a large or hostile document never blocks the agent's event loop. Started and owned by
 * OffThreadParser (off-thread-parser.ts); it says `{ ready: true }` once loaded. A request is
 * answered with an error, or with the spec without its services and their count; the services
 * then follow in batches, one per `{ id, more: true }`, so that the agent's thread copies a large
 * spec in slices of a few milliseconds, with its other work in between.
 */

export type ParseRequest = { id: number; limits: SpecLimits } & ({ file: string } | { doc: unknown });

export type ParseReply = { id: number } & (
  | { loaded: LoadedSpec; services: number }
  | { services: LoadedSpec['spec']['services'] }
  | { error: { code?: ErrorCode; params?: ErrorParams; message: string } }
);

/** Services per batch: about a millisecond or two of copying each. */
const BATCH = 50;

/** The services of the last answer still to be sent. */
let pending: { id: number; services: LoadedSpec['spec']['services'] } | undefined;

async function handle(req: ParseRequest): Promise<ParseReply> {
  pending = undefined;
  try {
    const loaded = 'file' in req ? await loadSpecFile(req.file, req.limits) : validateSpec(req.doc, req.limits);
    pending = { id: req.id, services: loaded.spec.services };
    return { id: req.id, loaded: { ...loaded, spec: { ...loaded.spec, services: [] } }, services: loaded.spec.services.length };
  } catch (err) {
    return { id: req.id, error: isCoreflowError(err) ? { code: err.code, params: err.params, message: err.message } : { message: errorText(err) } };
  }
}

function more(id: number): ParseReply {
  const services = pending?.id === id ? pending.services.splice(0, BATCH) : [];
  return { id, services };
}

const port = parentPort;
if (port) {
  port.on('message', (req: ParseRequest | { id: number; more: true }) => {
    if ('more' in req) port.postMessage(more(req.id));
    else void handle(req).then((reply) => port.postMessage(reply));
  });
  // A first small parse compiles the parser and the schema, so documents do not pay for it.
  parseSpec(`apiVersion: ${API_VERSION}\ncluster: {name: warm-up}\nservices: [{name: a, image: "a:1"}]\n`, 'warm-up');
  // Ready: the parent starts a request's deadline from here, not from the thread's start.
  port.postMessage({ ready: true });
}
