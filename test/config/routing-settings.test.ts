import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import t from 'tap';
import { loadConfig } from '../../ts/config/config.ts';

/** The routing settings: the edge token comes from the environment (or a flag), never from the spec. */
const cwd = mkdtempSync(`${tmpdir()}/coreflow-config-`);

t.test('COREFLOW_EDGE_TOKEN and COREFLOW_CERT_REFRESH_BEFORE_HOURS', async (t) => {
  const saved = { ...process.env };
  t.teardown(() => {
    process.env = saved;
  });
  delete process.env.COREFLOW_EDGE_TOKEN;
  const none = await loadConfig({}, cwd);
  t.equal(none.edgeToken, undefined, 'unset by default: edges are refused');
  t.equal(none.certRefreshBeforeHours, 168);

  process.env.COREFLOW_EDGE_TOKEN = 'a-long-enough-edge-token';
  process.env.COREFLOW_CERT_REFRESH_BEFORE_HOURS = '24';
  const set = await loadConfig({}, cwd);
  t.equal(set.edgeToken, 'a-long-enough-edge-token');
  t.equal(set.certRefreshBeforeHours, 24);

  process.env.COREFLOW_EDGE_TOKEN = 'short-secret';
  await t.rejects(loadConfig({}, cwd), { code: 'COREFLOW_ERR_CONFIG_INVALID', message: /COREFLOW_EDGE_TOKEN \(--edge-token\): expected a token of at least 16 characters/ });
  const err = await loadConfig({}, cwd).catch((e: Error) => e);
  t.notMatch(String((err as Error).message), 'short-secret', 'the token value is not in the error');
});
