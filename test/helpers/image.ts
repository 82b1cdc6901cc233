import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
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

/** Tags of the shared test image: `coreflow-test/agent:src-<hash of the build inputs>`. */
export const AGENT_TEST_REPO = 'coreflow-test/agent';
const SOURCE_TAG_PREFIX = 'src-';

/** Every file the image is built from, relative to the repository, sorted. */
async function buildInputs(): Promise<string[]> {
  const files = ['Dockerfile', 'package.json', 'package-lock.json', 'scripts/build.mjs', 'scripts/build-unused-module.cjs', 'scripts/runtime-deps.mjs', 'scripts/base-image.sh'];
  for (const folder of ['ts', 'bin', 'examples']) {
    const entries = await readdir(join(root, folder), { recursive: true, withFileTypes: true });
    for (const e of entries) if (e.isFile()) files.push(join(e.parentPath, e.name).slice(root.length));
  }
  return files.sort();
}

/**
 * The agent image for tests that run it (as a container or a Swarm service), built at most once
 * per content of its inputs: the tag is `coreflow-test/agent:src-<sha256 of every input file and
 * the base image's ID>`. When that tag exists (another test file, or an earlier run, built the
 * same sources) it is used as it is, in well under a second; otherwise it is built (about a
 * minute). Concurrent test files that both miss build the same tag; both get identical content.
 * The tag is a cache and stays after the tests (older ones are not removed automatically: a
 * checkout on other sources may be running them; `docker image ls coreflow-test/agent` lists them).
 */
export async function agentTestImage(): Promise<string> {
  const image = await agentTestImageTag();
  const exists = await exec('docker', ['image', 'inspect', '-f', '{{.Id}}', image]).then(() => true, () => false);
  if (exists) return image;
  await buildAgentImage(image);
  return image;
}

/** The tag agentTestImage uses for the sources as they are now (the base image is built if missing). */
export async function agentTestImageTag(): Promise<string> {
  const hash = createHash('sha256');
  const base = (await exec('bash', ['scripts/base-image.sh'], { cwd: root })).stdout.trim();
  hash.update((await exec('docker', ['image', 'inspect', '-f', '{{.Id}}', base])).stdout.trim());
  for (const f of await buildInputs()) hash.update(`\0${f}\0`).update(await readFile(join(root, f)));
  return `${AGENT_TEST_REPO}:${SOURCE_TAG_PREFIX}${hash.digest('hex').slice(0, 16)}`;
}
