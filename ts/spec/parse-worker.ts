import { parentPort } from 'node:worker_threads';
import { errorText, isCoreflowError, type ErrorCode, type ErrorParams } from '../errors.ts';
import type { SpecLimits } from './limits.ts';
import { loadSpecFile, parseSpec, validateSpec, type LoadedSpec } from './parse.ts';
import { API_VERSION } from './schema.ts';

/**
 * The spec parser's worker thread: reads, parses and validates one document per message, so that
 * a large or hostile document never blocks the agent's event loop. Started and owned by
 * OffThreadParser (off-thread-parser.ts); it says `{ ready: true }` once loaded, then every request
 * gets exactly one reply with its id.
 */

export type ParseRequest = { id: number; limits: SpecLimits } & ({ file: string } | { doc: unknown });

export type ParseReply = { id: number } & ({ loaded: LoadedSpec } | { error: { code?: ErrorCode; params?: ErrorParams; message: string } });

async function handle(req: ParseRequest): Promise<ParseReply> {
  try {
    const loaded = 'file' in req ? await loadSpecFile(req.file, req.limits) : validateSpec(req.doc, req.limits);
    return { id: req.id, loaded };
  } catch (err) {
    return { id: req.id, error: isCoreflowError(err) ? { code: err.code, params: err.params, message: err.message } : { message: errorText(err) } };
  }
}

const port = parentPort;
if (port) {
  port.on('message', (req: ParseRequest) => void handle(req).then((reply) => port.postMessage(reply)));
  // A first small parse compiles the parser and the schema, so documents do not pay for it.
  parseSpec(`apiVersion: ${API_VERSION}\ncluster: {name: warm-up}\nservices: [{name: a, image: "a:1"}]\n`, 'warm-up');
  // Ready: the parent starts a request's deadline from here, not from the thread's start.
  port.postMessage({ ready: true });
}
