import { readFile } from 'node:fs/promises';
import t from 'tap';
import { CoreflowError, errorCatalogue, type ErrorCode } from '../ts/errors.ts';

t.test('every error code is documented in docs/errors.md, and nothing else is', async (t) => {
  const doc = await readFile(new URL('../docs/errors.md', import.meta.url), 'utf8');
  const documented = [...doc.matchAll(/^\| (COREFLOW_ERR_[A-Z_]+) \|/gm)].map((m) => m[1]);
  t.same([...documented].sort(), Object.keys(errorCatalogue).sort());
  for (const m of doc.matchAll(/^\| (COREFLOW_ERR_[A-Z_]+) \| (yes|no) \|/gm)) {
    const code = m[1] as ErrorCode;
    t.equal(m[2], errorCatalogue[code].terminal ? 'yes' : 'no', `${code}: the terminal column matches the catalogue`);
  }
  t.equal([...doc.matchAll(/^\| (COREFLOW_ERR_[A-Z_]+) \| (yes|no) \|/gm)].length, documented.length, 'every row says whether it is terminal');
});

t.test('messages are rendered from their templates; terminal follows the catalogue', async (t) => {
  const err = new CoreflowError('COREFLOW_ERR_NOT_OWNED', { kind: 'service', name: 'web', cluster: 'prod' });
  t.equal(err.message, 'service web exists but is not owned by coreflow cluster prod; it is left alone');
  t.equal(err.terminal, true);
  for (const code of Object.keys(errorCatalogue) as ErrorCode[]) {
    t.equal(new CoreflowError(code).code, code);
  }
});
