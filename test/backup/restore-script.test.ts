import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { jobCommand, RESTORE_SCRIPT } from '../../ts/backup/job-scripts.ts';
import { agentTestImage } from '../helpers/image.ts';
import { TEST_IMAGE, uniqueName } from '../helpers/swarm.ts';

// The restore job's script against an HTTP server of the test's own making: what it does with a
// body that stops early, which the agent's server never sends on purpose.
const exec = promisify(execFile);

type Teardown = { teardown: (fn: () => unknown) => void };

/** A tar of two files (GNU tar on the host), and the length of its first member (header and data). */
async function archive(): Promise<{ tar: Buffer; firstMember: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'coreflow-restore-script-'));
  await writeFile(join(dir, 'a.txt'), 'first file\n');
  await writeFile(join(dir, 'b.txt'), 'second file\n');
  const { stdout } = await exec('tar', ['-C', dir, '-cf', '-', 'a.txt', 'b.txt'], { encoding: 'buffer' });
  return { tar: stdout, firstMember: 512 + 512 };
}

/** Serves `body` with the Content-Length of `length`, then closes the connection. */
async function serve(t: Teardown, length: number, body: Buffer, status = 200): Promise<number> {
  const server: Server = createServer((_req, res) => {
    res.writeHead(status, { 'content-type': 'application/x-tar', 'content-length': length });
    res.write(body, () => (body.length < length ? res.destroy() : res.end()));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise((r) => server.close(r)));
  return (server.address() as AddressInfo).port;
}

/** Runs the restore script in `image` on a new volume that holds keep.txt; its exit code, stderr and the volume's files (with their content) after. */
async function restore(t: Teardown, image: string, port: number): Promise<{ code: number; stderr: string; files: string }> {
  const volume = uniqueName('cf-restore-script');
  t.teardown(() => exec('docker', ['volume', 'rm', '-f', volume]).then(() => undefined, () => undefined));
  const mount = ['-v', `${volume}:/volume`];
  await exec('docker', ['run', '--rm', ...mount, TEST_IMAGE, 'busybox', 'sh', '-c', 'echo kept > /volume/keep.txt']);
  const [sh, ...args] = jobCommand(RESTORE_SCRIPT);
  const env = ['CF_HOST=127.0.0.1', `CF_PORT=${port}`, 'CF_PATH=/v1/backups/transfer?id=x', 'CF_TOKEN=t0ken'].flatMap((e) => ['-e', e]);
  const run = await exec('docker', ['run', '--rm', '--network', 'host', '--user', '0', ...env, ...mount, '--entrypoint', sh!, image, ...args]).then(
    (r) => ({ code: 0, stderr: r.stderr }),
    (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
  );
  // Every entry with its content: `name=content`, in order.
  const { stdout } = await exec('docker', ['run', '--rm', ...mount, TEST_IMAGE, 'busybox', 'sh', '-c', 'cd /volume && for f in $(busybox ls -A); do echo "$f=$(busybox cat "$f")"; done']);
  return { ...run, files: stdout.trim().split('\n').join(' ') };
}

for (const [kind, image] of [['the agent\'s image (bash, GNU tar, dd)', await agentTestImage()], ['busybox', TEST_IMAGE]] as const) {
  t.test(`${kind}: a whole archive replaces the data; one cut short at a member boundary changes nothing`, async (t) => {
    const { tar, firstMember } = await archive();
    const cut = await restore(t, image, await serve(t, tar.length, tar.subarray(0, firstMember)));
    t.not(cut.code, 0, 'the job fails');
    t.equal(cut.files, 'keep.txt=kept', 'the previous data is in place, nothing staged is left');
    const refused = await restore(t, image, await serve(t, tar.length, tar, 401));
    t.not(refused.code, 0, 'an answer other than 200 fails the job');
    t.equal(refused.files, 'keep.txt=kept');
    const whole = await restore(t, image, await serve(t, tar.length, tar));
    t.equal(whole.code, 0, whole.stderr);
    t.equal(whole.files, 'a.txt=first file b.txt=second file', 'the archive\'s files, byte for byte, the old ones gone');
  });
}
