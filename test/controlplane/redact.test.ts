import t from 'tap';
import { redactDocument } from '../../ts/controlplane/redact.ts';

t.test('secret bundle values and credential fields are redacted, keys kept', async (t) => {
  const doc = {
    cluster: { name: 'c' },
    secretBundles: [{ id: 'b', values: { DB_PASSWORD: 'hunter2', PORT: 5432 } }],
    registries: [{ id: 'r', url: '127.0.0.1:5000', username: 'alice', password: 's3cret' }],
    services: [{ name: 'web', environment: { MODE: 'x' }, values: { kept: 'not a bundle' } }],
  };
  const shown = redactDocument(doc);
  t.same(shown, {
    cluster: { name: 'c' },
    secretBundles: [{ id: 'b', values: { DB_PASSWORD: '[redacted]', PORT: '[redacted]' } }],
    registries: [{ id: 'r', url: '127.0.0.1:5000', username: 'alice', password: '[redacted]' }],
    services: [{ name: 'web', environment: { MODE: 'x' }, values: { kept: 'not a bundle' } }],
  });
  t.equal(doc.secretBundles[0]!.values.DB_PASSWORD, 'hunter2', 'the original is untouched');
});
