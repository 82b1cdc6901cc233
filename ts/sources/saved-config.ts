import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CoreflowError, errorText } from '../errors.ts';
import { writeFileAtomic } from '../fs/atomic-file.ts';
import { inlineSpecReader, type SpecReader } from '../spec/off-thread-parser.ts';
import type { LoadedSpec } from '../spec/parse.ts';

/** The file in the state directory holding the last config the control plane gave and the agent accepted. */
export const SAVED_CONFIG_FILE = 'controlplane-config.json';

/**
 * The last accepted control-plane config, kept so the agent can reconcile after a restart while
 * the control plane is unreachable. Written atomically: a crash leaves the old or the new file.
 */
export class SavedConfig {
  readonly path: string;

  /** `reader`: the agent's, so a config accepted under its limits is accepted again after a restart. */
  constructor(
    stateDir: string,
    private readonly reader: SpecReader = inlineSpecReader(),
  ) {
    this.path = join(stateDir, SAVED_CONFIG_FILE);
  }

  async save(doc: unknown, loaded: LoadedSpec): Promise<void> {
    const text = JSON.stringify({ savedAt: new Date().toISOString(), specHash: loaded.hash, spec: doc }, null, 2);
    await writeFileAtomic(this.path, `${text}\n`);
  }

  /** The saved config, validated again; undefined when there is none. Throws when it is unusable. */
  async load(): Promise<LoadedSpec | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new CoreflowError('COREFLOW_ERR_SPEC_READ', { path: this.path, details: errorText(err) });
    }
    let parsed: { spec?: unknown };
    try {
      parsed = JSON.parse(text) as { spec?: unknown };
    } catch (err) {
      throw new CoreflowError('COREFLOW_ERR_SPEC_PARSE', { source: this.path, details: errorText(err) });
    }
    return this.reader.validate(parsed.spec);
  }
}
