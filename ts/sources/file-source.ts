import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { errorText, isCoreflowError } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import { specErrors } from '../spec/parse.ts';
import type { DesiredState } from './desired-state.ts';

/**
 * Standalone mode's source: the spec file. Read at start and whenever it changes (the folder is
 * watched, so editors that save by rename are seen too). An invalid edit is logged with every
 * error and the last good document stays in force.
 */
export class FileSource {
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  readonly path: string;

  constructor(
    path: string,
    private readonly desired: DesiredState,
    private readonly log: Logger,
    private readonly debounceMs = 200,
  ) {
    this.path = resolve(path);
  }

  /** Reads the file once; returns whether it was valid. */
  async load(): Promise<boolean> {
    try {
      const loaded = await this.desired.reader.loadFile(this.path);
      if (this.desired.offer(loaded, `file ${this.path}`)) this.log.info({ specHash: loaded.hash }, 'spec loaded');
      return true;
    } catch (err) {
      const errors = isCoreflowError(err, 'COREFLOW_ERR_SPEC_INVALID') ? specErrors(err) : [errorText(err)];
      this.log.error({ errors, kept: this.desired.get()?.hash ?? null }, 'spec rejected; the last good spec stays in force');
      return false;
    }
  }

  async start(): Promise<boolean> {
    const ok = await this.load();
    const file = basename(this.path);
    this.watcher = watch(dirname(this.path), (_event, name) => {
      if (name !== null && name !== file) return;
      clearTimeout(this.debounce);
      this.debounce = setTimeout(() => void this.load(), this.debounceMs);
    });
    this.log.info({ path: this.path }, 'watching the spec file');
    return ok;
  }

  stop(): void {
    clearTimeout(this.debounce);
    this.watcher?.close();
  }
}
