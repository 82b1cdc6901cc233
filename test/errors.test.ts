import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import ts from 'typescript';
import { CoreflowError, errorCatalogue, errorCode, errorLogFields, type ErrorCode } from '../ts/errors.ts';

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
  t.equal(new CoreflowError('COREFLOW_ERR_DOCKER_API', { operation: 'GET /x', status: 500, details: 'busy' }).terminal, false);
});

t.test('an error coreflow does not know gets COREFLOW_ERR_UNEXPECTED and keeps its stack for the log', async (t) => {
  const known = new CoreflowError('COREFLOW_ERR_SPEC_READ', { path: '/x.yaml', details: 'ENOENT' });
  t.equal(errorCode(known), 'COREFLOW_ERR_SPEC_READ');
  t.same(errorLogFields(known), { code: 'COREFLOW_ERR_SPEC_READ', err: 'cannot read the spec file /x.yaml: ENOENT' }, 'a known error is logged by code and text');
  const bug = new TypeError("Cannot read properties of undefined (reading 'Spec')");
  t.equal(errorCode(bug), 'COREFLOW_ERR_UNEXPECTED');
  t.equal(errorCode('a thrown string'), 'COREFLOW_ERR_UNEXPECTED');
  t.equal(errorLogFields(bug).err, bug, 'an unknown error goes to the log as itself (pino writes its stack)');
});

/** Every `new CoreflowError('CODE', {...})` in ts/, with the parameter names when they are written out. */
function raisedErrors(): { where: string; code: string; params: string[] | undefined }[] {
  const out: { where: string; code: string; params: string[] | undefined }[] = [];
  const root = fileURLToPath(new URL('../ts', import.meta.url));
  // errors.ts itself rebuilds errors from codes it checks against the catalogue.
  const files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts') && f !== 'errors.ts');
  for (const file of files) {
    const source = ts.createSourceFile(file, readFileSync(join(root, file), 'utf8'), ts.ScriptTarget.ES2022, true);
    const visit = (node: ts.Node): void => {
      if (ts.isNewExpression(node) && node.expression.getText() === 'CoreflowError') {
        const [code, params] = node.arguments ?? [];
        const { line } = source.getLineAndCharacterOfPosition(node.getStart());
        const literal = params === undefined || (ts.isObjectLiteralExpression(params) && params.properties.every((p) => !ts.isSpreadAssignment(p)));
        out.push({
          where: `ts/${file}:${line + 1}`,
          code: code && ts.isStringLiteral(code) ? code.text : '(not a literal)',
          params: !literal ? undefined : params ? (params as ts.ObjectLiteralExpression).properties.map((p) => p.name!.getText()) : [],
        });
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return out;
}

t.test('every error raised in ts/ is from the catalogue and fills every blank of its message', async (t) => {
  const raised = raisedErrors();
  t.ok(raised.length > 50, `${raised.length} places raise a CoreflowError`);
  for (const r of raised) {
    const entry = errorCatalogue[r.code as ErrorCode];
    t.ok(entry, `${r.where}: ${r.code} is in the catalogue`);
    if (!entry || !r.params) continue; // parameters built elsewhere cannot be checked here
    const blanks = [...entry.message.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
    t.same(blanks.filter((b) => !r.params!.includes(b)), [], `${r.where}: ${r.code} gets ${blanks.join(', ') || 'no parameters'}`);
  }
});

t.test('every code of the catalogue is used somewhere in ts/ (no dead codes)', async (t) => {
  const root = fileURLToPath(new URL('../ts', import.meta.url));
  const text = readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && f !== 'errors.ts')
    .map((f) => readFileSync(join(root, f), 'utf8'))
    .join('\n');
  for (const code of Object.keys(errorCatalogue)) t.ok(text.includes(`'${code}'`), `${code} is used`);
});
