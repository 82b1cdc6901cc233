import { appendFile, mkdir, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../fs/atomic-file.ts';
import { SerialQueue } from '../serial-queue.ts';
import type { CoreflowEvent } from './events.ts';

/**
 * The bounded on-disk event log: one JSON object per line (events.jsonl in the state folder).
 * Appends are queued so lines never interleave; `trim` (the event-retention controller) keeps
 * only events younger than maxAgeMs and, of those, the newest that fit in maxBytes.
 */
export class EventLog {
  private readonly queue = new SerialQueue();
  private ready: Promise<unknown> | undefined;

  constructor(readonly path: string) {}

  /** Queues one line; a failed append (disk full) loses that line only. */
  append(e: CoreflowEvent): Promise<void> {
    this.ready ??= mkdir(dirname(this.path), { recursive: true });
    const line = `${JSON.stringify(e)}\n`;
    return this.queue
      .run(async () => {
        await this.ready;
        await appendFile(this.path, line, { mode: 0o600 });
      })
      .catch(() => undefined);
  }

  /** Waits for queued appends. */
  flush(): Promise<void> {
    return this.queue.idle();
  }

  async read(): Promise<CoreflowEvent[]> {
    await this.flush();
    const text = await readFile(this.path, 'utf8').catch(() => '');
    const out: CoreflowEvent[] = [];
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        out.push(JSON.parse(line) as CoreflowEvent);
      } catch {
        // A torn last line (crash mid-append) is dropped.
      }
    }
    return out;
  }

  /** Returns how many lines were removed. */
  trim(limits: { maxAgeMs: number; maxBytes: number }, now = Date.now()): Promise<number> {
    return this.queue.run(async () => {
      const size = await stat(this.path).then((s) => s.size).catch(() => 0);
      if (size === 0) return 0;
      const lines = (await readFile(this.path, 'utf8')).split('\n').filter((l) => l.trim());
      const young = lines.filter((l) => {
        try {
          return now - Date.parse((JSON.parse(l) as CoreflowEvent).time) <= limits.maxAgeMs;
        } catch {
          return false;
        }
      });
      const kept: string[] = [];
      let bytes = 0;
      for (let i = young.length - 1; i >= 0; i--) {
        const b = Buffer.byteLength(young[i]!) + 1;
        if (bytes + b > limits.maxBytes) break;
        bytes += b;
        kept.unshift(young[i]!);
      }
      if (kept.length === lines.length) return 0;
      await writeFileAtomic(this.path, kept.map((l) => `${l}\n`).join(''));
      return lines.length - kept.length;
    });
  }
}
