import t from 'tap';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTokenFile } from '../../ts/controlplane/token.ts';

t.test('token file: first non-empty line, at least 16 characters, never echoed in errors', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'coreflow-token-'));
  await writeFile(join(dir, 'good'), '\n  0123456789abcdefXYZ  \nignored\n');
  t.equal(await readTokenFile(join(dir, 'good')), '0123456789abcdefXYZ');
  await writeFile(join(dir, 'short'), 'shorty\n');
  const err = await readTokenFile(join(dir, 'short')).catch((e: unknown) => e);
  t.match(String(err), /at least 16 characters/);
  t.notMatch(String(err), /shorty/);
  t.rejects(readTokenFile(join(dir, 'missing')), /cannot read the token file/);
});
