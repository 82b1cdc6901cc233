import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../../ts/config/config.ts';
import { cloudflareTokenSource, dnsStepOptions } from '../../ts/dns/token.ts';

/** Where the dns step gets its token: a setting, or a file read at every run. */

async function tempDir(t: { teardown: (fn: () => unknown) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'coreflow-dns-token-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('the token file is read at every run; a missing file names the path only', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'token');
  const source = cloudflareTokenSource({ cloudflareTokenFile: file });
  await t.rejects(source(), { code: 'COREFLOW_ERR_SECRET_FILE', message: new RegExp(`cannot read the secret file ${file} given by CLOUDFLARE_API_TOKEN_FILE \\(--cloudflare-token-file\\)`) });
  await writeFile(file, '\n');
  await t.rejects(source(), { message: /the file is empty/ });
  await writeFile(file, 'first-token\n');
  t.equal(await source(), 'first-token');
  await writeFile(file, 'rotated-token\n');
  t.equal(await source(), 'rotated-token', 'a rotated token is picked up without a restart');
  t.equal(await cloudflareTokenSource({ cloudflareToken: 'direct' })(), 'direct', 'a token given directly');
  t.equal(await cloudflareTokenSource({})(), undefined);
});

t.test('settings: CLOUDFLARE_API_TOKEN, CLOUDFLARE_API_TOKEN_FILE, the flags, the API URL', async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, '.nogit'));
  await writeFile(join(dir, '.nogit', 'env.json'), JSON.stringify({ CLOUDFLARE_API_TOKEN_FILE: '/run/secrets/cf' }));
  const fromEnv = await loadConfig({}, dir);
  t.equal(fromEnv.cloudflareTokenFile, '/run/secrets/cf');
  await t.rejects(loadConfig({ cloudflareToken: 'from-flag' }, dir), { code: 'COREFLOW_ERR_CONFIG_INVALID', message: /CLOUDFLARE_API_TOKEN \(--cloudflare-token\) and CLOUDFLARE_API_TOKEN_FILE \(--cloudflare-token-file\): both are set/ });
  await writeFile(join(dir, '.nogit', 'env.json'), JSON.stringify({ CLOUDFLARE_API_TOKEN: 'from-env' }));
  t.equal((await loadConfig({}, dir)).cloudflareToken, 'from-env');
  t.equal(fromEnv.cloudflareApiUrl, undefined);
  const flags = await loadConfig({ cloudflareToken: 'from-flag', cloudflareApiUrl: 'http://127.0.0.1:9/client/v4' }, dir);
  t.equal(flags.cloudflareToken, 'from-flag', 'the flag wins');
  const opts = dnsStepOptions(flags);
  t.equal(opts.baseURL, 'http://127.0.0.1:9/client/v4');
  t.equal(await opts.token!(), 'from-flag');
  const bad = await loadConfig({ cloudflareApiUrl: 'ftp://x', cloudflareToken: 'secret-in-bad-config' }, dir).catch((e: unknown) => e as Error);
  t.match(bad, { code: 'COREFLOW_ERR_CONFIG_INVALID', message: /COREFLOW_CLOUDFLARE_API_URL \(--cloudflare-api-url\): expected an http\(s\) URL/ });
  t.notOk(String((bad as Error).message).includes('secret-in-bad-config'));
});
