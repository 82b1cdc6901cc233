import { readFile } from 'node:fs/promises';
import t from 'tap';
import { settings } from '../ts/config/settings.ts';
import { commands } from '../ts/cli/commands.ts';

const readme = await readFile(new URL('../readme.md', import.meta.url), 'utf8');

t.test('the configuration table lists every setting with its variable and flag', async (t) => {
  for (const s of Object.values(settings)) {
    t.match(readme, new RegExp(`\\| \`${s.env}\` \\| \`--${s.flag}\` \\|`), `${s.env} / --${s.flag}`);
  }
});

t.test('the CLI section names every command', async (t) => {
  for (const name of Object.keys(commands)) t.match(readme, `coreflow ${name}`, name);
});

t.test('the quickstart and test commands exist in package.json', async (t) => {
  const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };
  for (const script of ['setup', 'start', 'test', 'bench']) t.ok(pkg.scripts[script], script);
  t.match(readme, 'npm run setup');
  t.match(readme, 'npm start');
  t.match(readme, 'npm test');
});
