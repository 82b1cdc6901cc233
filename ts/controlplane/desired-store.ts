import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { CoreflowError, errorText, isCoreflowError } from '../errors.ts';
import { writeFileAtomic } from '../fs/atomic-file.ts';
import { SerialQueue } from '../serial-queue.ts';
import { MAX_DOCUMENT_BYTES } from '../protocol/envelope.ts';
import { DEFAULT_SPEC_LIMITS, type SpecLimits } from '../spec/limits.ts';
import { readSpecFile, specErrors, validateSpec, type LoadedSpec } from '../spec/parse.ts';
import { parseSpecText } from '../spec/spec-text.ts';

export type UpdateOutcome =
  | { ok: true; changed: boolean; specHash: string }
  | { ok: false; errors: string[]; tooLarge?: CoreflowError };

/**
 * The control plane's desired state: the document as written in the spec file (kept as written,
 * so defaults are not expanded into the file) and its validated form. Changes are validated as a
 * whole new document (and refused when it would no longer fit in one protocol frame), written to
 * the file atomically and only then put in force; updates run one at a time.
 */
export class DesiredStore {
  readonly path: string;
  private doc: Record<string, unknown> = {};
  private loaded: LoadedSpec | undefined;
  private readonly queue = new SerialQueue();
  /** The spec file's permissions, kept on every rewrite (it may hold secret bundle values). */
  private mode = 0o600;

  constructor(
    path: string,
    private readonly limits: SpecLimits = DEFAULT_SPEC_LIMITS,
  ) {
    this.path = resolve(path);
  }

  /** Reads and validates the spec file; throws the spec errors when it is not valid. */
  async load(): Promise<LoadedSpec> {
    const text = await readSpecFile(this.path, this.limits);
    // The document as written (defaults not expanded into the file) and its validated form.
    const doc = parseSpecText(text, this.path, this.limits);
    const loaded = validateSpec(doc, this.limits);
    this.mode = (await stat(this.path)).mode & 0o777;
    this.doc = doc as Record<string, unknown>;
    this.loaded = loaded;
    return loaded;
  }

  get document(): Record<string, unknown> {
    return structuredClone(this.doc);
  }

  get current(): LoadedSpec {
    if (!this.loaded) throw new CoreflowError('COREFLOW_ERR_UNEXPECTED', { details: 'the desired state is not loaded' });
    return this.loaded;
  }

  /** Replaces the service with the same name, or adds it. */
  updateService(service: unknown): Promise<UpdateOutcome> {
    return this.queue.run(async () => {
      if (!service || typeof service !== 'object' || Array.isArray(service)) return { ok: false, errors: ['service: expected an object'] };
      const name = (service as { name?: unknown }).name;
      if (typeof name !== 'string' || name === '') return { ok: false, errors: ['service.name: required'] };
      const next = structuredClone(this.doc);
      const services = Array.isArray(next.services) ? [...(next.services as unknown[])] : [];
      const at = services.findIndex((s) => (s as { name?: unknown } | null)?.name === name);
      if (at >= 0) services[at] = service;
      else services.push(service);
      next.services = services;
      return this.replace(next);
    });
  }

  /** Writes the current document back (clean exit). */
  persist(): Promise<void> {
    return this.queue.run(() => writeFileAtomic(this.path, stringifyYaml(this.doc), this.mode));
  }

  private async replace(next: Record<string, unknown>): Promise<UpdateOutcome> {
    let loaded: LoadedSpec;
    try {
      loaded = validateSpec(next, this.limits);
    } catch (err) {
      return { ok: false, errors: isCoreflowError(err, 'COREFLOW_ERR_SPEC_INVALID') ? specErrors(err) : [errorText(err)] };
    }
    if (loaded.hash === this.loaded?.hash) return { ok: true, changed: false, specHash: loaded.hash };
    // Agents get the document whole in one frame: one that cannot be delivered is never accepted.
    const size = Buffer.byteLength(JSON.stringify(next));
    if (size > MAX_DOCUMENT_BYTES) {
      const tooLarge = new CoreflowError('COREFLOW_ERR_DOCUMENT_TOO_LARGE', { size, limit: MAX_DOCUMENT_BYTES });
      return { ok: false, errors: [tooLarge.message], tooLarge };
    }
    await writeFileAtomic(this.path, stringifyYaml(next), this.mode);
    this.doc = next;
    this.loaded = loaded;
    return { ok: true, changed: true, specHash: loaded.hash };
  }
}
