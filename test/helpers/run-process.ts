import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** What a finished child process gave: its exit code (0 on success) and both streams. */
export interface ProcessOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `cmd args` to the end; a non-zero exit resolves with its code instead of throwing. */
export async function runProcess(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ProcessOutput> {
  try {
    const r = await exec(cmd, args, { maxBuffer: 64 << 20, ...opts });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as ProcessOutput;
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
