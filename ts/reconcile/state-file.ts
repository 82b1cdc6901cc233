import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../fs/atomic-file.ts';
import { SerialQueue } from '../serial-queue.ts';
import type { RunResult } from './types.ts';

export const STATE_VERSION = 1;

const resourceSchema = z.object({
  address: z.string(),
  type: z.string(),
  name: z.string(),
  step: z.string(),
  lastAction: z.string(),
  status: z.string(),
});

const stateSchema = z.object({
  version: z.literal(STATE_VERSION),
  lineage: z.string().min(1),
  serial: z.number().int().min(0),
  generatedAt: z.string(),
  specHash: z.string(),
  runId: z.string(),
  resources: z.array(resourceSchema),
});

/** The agent's state: what it last applied, with a lineage (this agent's history) and a serial (bumped per write). */
export type AgentState = z.output<typeof stateSchema>;

/**
 * The state file (state.json in the state folder), written atomically after every applied run,
 * so a restarted agent knows what it last applied. A missing or unreadable file starts a new
 * lineage at serial 0 (the old file is replaced on the next write). No secret values: only
 * kinds, names, actions and statuses.
 */
export class StateFile {
  readonly path: string;
  private current: AgentState | undefined;
  private lineage = randomBytes(8).toString('hex');
  private serial = 0;
  private readonly queue = new SerialQueue();

  constructor(dir: string) {
    this.path = join(dir, 'state.json');
  }

  get state(): AgentState | undefined {
    return this.current;
  }

  /** Lineage and serial, and what was last applied (also when read from a previous process). */
  get identity(): { lineage: string; serial: number; lastApplied?: { runId: string; specHash: string; at: string } } {
    const c = this.current;
    return { lineage: this.lineage, serial: this.serial, ...(c ? { lastApplied: { runId: c.runId, specHash: c.specHash, at: c.generatedAt } } : {}) };
  }

  async load(): Promise<AgentState | undefined> {
    const text = await readFile(this.path, 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    const parsed = stateSchema.safeParse((() => { try { return JSON.parse(text); } catch { return undefined; } })());
    if (!parsed.success) return undefined;
    this.current = parsed.data;
    this.lineage = parsed.data.lineage;
    this.serial = parsed.data.serial;
    return parsed.data;
  }

  /**
   * Continues a history begun elsewhere (the previous lease holder's, on another node) when no
   * state file was read here: the next write has that lineage and the serial after it.
   */
  adopt(identity: { lineage: string; serial: number }): void {
    if (this.current) return;
    this.lineage = identity.lineage;
    this.serial = Math.max(this.serial, identity.serial);
  }

  /** Writes the state after a run; dry runs are ignored. Writes are queued: serials never repeat. */
  write(result: RunResult): Promise<AgentState | undefined> {
    return this.queue.run(() => this.writeNow(result));
  }

  private async writeNow(result: RunResult): Promise<AgentState | undefined> {
    if (result.dryRun) return undefined;
    const resources: AgentState['resources'] = [];
    for (const step of result.steps) {
      for (const a of step.actions) {
        if (a.type === 'delete' && a.status === 'succeeded') continue;
        if (a.type === 'create' && a.status !== 'succeeded') continue;
        resources.push({ address: `${a.kind}.${a.name}`, type: a.kind, name: a.name, step: step.kind, lastAction: a.type, status: a.status });
      }
    }
    const next: AgentState = {
      version: STATE_VERSION,
      lineage: this.lineage,
      serial: this.serial + 1,
      generatedAt: new Date().toISOString(),
      specHash: result.specHash,
      runId: result.runId,
      resources,
    };
    await mkdir(join(this.path, '..'), { recursive: true });
    await writeFileAtomic(this.path, `${JSON.stringify(next, null, 2)}\n`);
    this.serial = next.serial;
    this.current = next;
    return next;
  }
}
