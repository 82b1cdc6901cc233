import { CoreflowError } from '../errors.ts';
import { parseJsonObjectText } from './json-text.ts';
import { DEFAULT_SPEC_LIMITS, sizeError, type SpecLimits } from './limits.ts';
import { validateSpec, type LoadedSpec } from './parse.ts';
import { parseYamlText } from './yaml-text.ts';

/**
 * YAML or JSON text to the plain document, within the limits, not yet validated. A JSON object is
 * read by the native parser (what a program generating a large spec writes); anything else by the
 * YAML parser. (Its own module: a command reading a JSON spec file does not load the YAML parser.)
 */
export function parseSpecText(text: string, source = 'spec', limits: SpecLimits = DEFAULT_SPEC_LIMITS): unknown {
  const bytes = Buffer.byteLength(text);
  if (bytes > limits.maxBytes) throw sizeError(source, bytes, limits);
  return parseJsonObjectText(text, source, limits.maxDepth) ?? parseYamlDocument(text, source, limits);
}

/** YAML text (already within the size limit) to the plain document; an empty one is refused. */
export function parseYamlDocument(text: string, source: string, limits: SpecLimits): unknown {
  const doc = parseYamlText(text, source, limits);
  if (doc === null || doc === undefined) {
    throw new CoreflowError('COREFLOW_ERR_SPEC_PARSE', { source, details: 'the document is empty' });
  }
  return doc;
}

/** Parses YAML or JSON text within the limits and validates it. */
export function parseSpec(text: string, source = 'spec', limits: SpecLimits = DEFAULT_SPEC_LIMITS): LoadedSpec {
  return validateSpec(parseSpecText(text, source, limits), limits);
}
