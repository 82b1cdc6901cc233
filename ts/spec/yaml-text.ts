import { Composer, Lexer, LineCounter, Parser, type CST, type Document } from 'yaml';
import { CoreflowError, errorText } from '../errors.ts';
import { depthError, limitError, type SpecLimits } from './limits.ts';

/**
 * YAML (or JSON) text to a plain value, with the limits applied where yaml would otherwise run
 * away: the tokeniser's open collections are counted as it goes, so a document nested deeper than
 * maxDepth is refused before the recursive composition (which overflows the stack, or worse, on
 * deep input), and alias expansion stops at maxAliases. Keys must be unique. Throws
 * COREFLOW_ERR_SPEC_PARSE (with the line) or COREFLOW_ERR_SPEC_LIMIT.
 */
export function parseYamlText(text: string, source: string, limits: SpecLimits): unknown {
  const lines = new LineCounter();
  const at = (offset: number) => {
    const { line, col } = lines.linePos(offset);
    return `line ${line}, column ${col}`;
  };
  const parser = new Parser(lines.addNewLine);
  function* tokens(): Generator<CST.Token> {
    lines.addNewLine(0);
    for (const lexeme of new Lexer().lex(text)) {
      yield* parser.next(lexeme);
      // The stack holds the document and each collection being built, plus at most one scalar or
      // pair in progress: one more than the depth, two at a scalar.
      if (parser.stack.length > limits.maxDepth + 2) throw depthError(`${source} at ${at(parser.offset)}`, limits);
    }
    yield* parser.end();
  }
  let doc: Document.Parsed | undefined;
  for (const next of new Composer({ uniqueKeys: true }).compose(tokens(), true, text.length)) {
    if (doc) throw new CoreflowError('COREFLOW_ERR_SPEC_PARSE', { source, details: `a second document starts at ${at(next.range[0])}; a spec is one document` });
    doc = next;
  }
  const error = doc?.errors[0];
  if (error) throw new CoreflowError('COREFLOW_ERR_SPEC_PARSE', { source, details: `${error.message} at ${at(error.pos[0])}` });
  try {
    return doc?.toJS({ maxAliasCount: limits.maxAliases });
  } catch (err) {
    if (err instanceof ReferenceError && /excessive alias count|alias resolution is disabled/i.test(err.message)) {
      throw limitError('specMaxAliases', source, 'the YAML alias expansion', `more than ${limits.maxAliases}`, String(limits.maxAliases));
    }
    throw new CoreflowError('COREFLOW_ERR_SPEC_PARSE', { source, details: errorText(err) });
  }
}
