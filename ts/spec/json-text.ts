import { CoreflowError } from '../errors.ts';

/**
 * The first key that appears twice in one object of a valid JSON text, with its offset. JSON.parse
 * keeps the last of two equal keys without a word; a spec must not lose a value that way. Linear in
 * the text; `text` must already be valid JSON.
 */
function firstDuplicateKey(text: string): { key: string; offset: number } | undefined {
  const objects: (Set<string> | undefined)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      let escaped = false;
      for (i++; text.charCodeAt(i) !== 0x22; i++) {
        if (text.charCodeAt(i) === 0x5c /* \ */) {
          escaped = true;
          i++;
        }
      }
      if (!expectKey) continue;
      expectKey = false;
      const raw = text.slice(start + 1, i);
      const key = escaped ? (JSON.parse(`"${raw}"`) as string) : raw;
      const keys = objects[objects.length - 1]!;
      if (keys.has(key)) return { key, offset: start };
      keys.add(key);
    } else if (c === 0x7b /* { */) {
      objects.push(new Set());
      expectKey = true;
    } else if (c === 0x5b /* [ */) {
      objects.push(undefined);
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      objects.pop();
    } else if (c === 0x2c /* , */) {
      expectKey = objects[objects.length - 1] !== undefined;
    }
  }
  return undefined;
}

/** Whether brackets outside double-quoted strings nest deeper than `maxDepth`. Allocates nothing. */
function nestsDeeperThan(text: string, maxDepth: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c /* \ */) i++;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > maxDepth) return true;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
    }
  }
  return false;
}

function lineAndColumn(text: string, offset: number): string {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return `line ${line}, column ${offset - lineStart + 1}`;
}

/**
 * A spec written as a JSON object, parsed natively (tens of times faster than the YAML parser on a
 * large document), with keys that must be unique as in YAML. Undefined when the text is not a
 * JSON object, or when it nests deeper than `maxDepth`: the YAML parser reads it then, refuses what
 * is too deep while it tokenises (before anything is built) and reports errors with their line.
 * Throws COREFLOW_ERR_SPEC_PARSE for a duplicate key. The other limits are checked on the value by
 * the caller, as for YAML.
 */
export function parseJsonObjectText(text: string, source: string, maxDepth: number): unknown {
  if (!text.trimStart().startsWith('{') || nestsDeeperThan(text, maxDepth)) return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  const dup = firstDuplicateKey(text);
  if (dup) throw new CoreflowError('COREFLOW_ERR_SPEC_PARSE', { source, details: `Map keys must be unique ("${dup.key}") at ${lineAndColumn(text, dup.offset)}` });
  return doc;
}
