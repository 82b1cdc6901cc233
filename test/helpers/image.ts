import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;

/**
 * Builds the agent image as tag `image` the way a machine without a registry does: the base image
 * from scripts/base-image.sh (minutes the first time, then it exists), then the Dockerfile. RUN
 * steps use the host network (the engine here may have no default bridge); CAs this machine added
 * locally (a TLS-intercepting proxy's) are handed to npm in the build stage. Rejects with the
 * command's output on failure.
 */
export async function buildAgentImage(image: string): Promise<void> {
  const base = (await exec('bash', ['scripts/base-image.sh'], { cwd: root })).stdout.trim();
  const caDir = '/usr/local/share/ca-certificates';
  const cas = await readdir(caDir).then((fs) => fs.filter((f) => f.endsWith('.crt')), () => [] as string[]);
  const ca = (await Promise.all(cas.map((f) => readFile(join(caDir, f), 'utf8')))).join('\n');
  const args = ['build', '--network', 'host', '--build-arg', `BASE_IMAGE=${base}`, '--build-arg', `NPM_CA=${ca}`, '-t', image, '.'];
  await exec('docker', args, { cwd: root, maxBuffer: 64 << 20 });
}
