import type { CoreflowConfig } from '../config/config.ts';
import { settings } from '../config/settings.ts';
import { CoreflowError } from '../errors.ts';
import { formatPath } from './path.ts';

/**
 * Bounds on one spec document. Each is checked before the step it protects: the size before the
 * file is read, the nesting depth while YAML is tokenised (before the recursive composition),
 * alias expansion while YAML values are built, and everything else on the plain value before the
 * schema sees it. Breaking one throws COREFLOW_ERR_SPEC_LIMIT naming the place, the limit and its
 * setting; a value itself is never echoed (it may be a secret).
 */
export interface SpecLimits {
  /** Bytes of the file, or of the document written as JSON. */
  maxBytes: number;
  /** Levels of objects and lists; the document itself is level 1. */
  maxDepth: number;
  maxServices: number;
  /** UTF-8 bytes of one string, key or value. */
  maxValueBytes: number;
  /** yaml's maxAliasCount: how far aliases may expand. */
  maxAliases: number;
}

type LimitSetting = 'specMaxBytes' | 'specMaxDepth' | 'specMaxServices' | 'specMaxValueBytes' | 'specMaxAliases' | 'specParseTimeoutMs';

export type SpecLimitSettings = Pick<CoreflowConfig, Exclude<LimitSetting, 'specParseTimeoutMs'>>;

export function specLimits(config: SpecLimitSettings): SpecLimits {
  return {
    maxBytes: config.specMaxBytes,
    maxDepth: config.specMaxDepth,
    maxServices: config.specMaxServices,
    maxValueBytes: config.specMaxValueBytes,
    maxAliases: config.specMaxAliases,
  };
}

/** The limits of the settings' defaults (what validateSpec and parseSpec use when given none). */
export const DEFAULT_SPEC_LIMITS: Readonly<SpecLimits> = Object.freeze(
  specLimits({
    specMaxBytes: Number(settings.specMaxBytes.default),
    specMaxDepth: Number(settings.specMaxDepth.default),
    specMaxServices: Number(settings.specMaxServices.default),
    specMaxValueBytes: Number(settings.specMaxValueBytes.default),
    specMaxAliases: Number(settings.specMaxAliases.default),
  }),
);

/** COREFLOW_ERR_SPEC_LIMIT for `setting`: "`where`: `what` is `value`, over the limit of `limit` (setting ...)". */
export function limitError(setting: LimitSetting, where: string, what: string, value: string, limit: string): CoreflowError {
  const s = settings[setting];
  return new CoreflowError('COREFLOW_ERR_SPEC_LIMIT', { where, what, value, limit, setting: `${s.env}, --${s.flag}` });
}

export function sizeError(where: string, bytes: number, limits: SpecLimits): CoreflowError {
  return limitError('specMaxBytes', where, 'the size', `${bytes} bytes`, `${limits.maxBytes} bytes`);
}

export function depthError(where: string, limits: SpecLimits): CoreflowError {
  return limitError('specMaxDepth', where, 'the nesting depth', `more than ${limits.maxDepth} levels`, `${limits.maxDepth} levels`);
}

/**
 * Checks a parsed document against the limits in one pass that stops at the first breach: the
 * number of services first, then depth, the size of every string and the running size of the
 * document as JSON (shared YAML aliases count every time they appear, as they would when sent).
 * Recursion is bounded by maxDepth.
 */
export function checkDocumentLimits(doc: unknown, limits: SpecLimits): void {
  const services = isRecord(doc) ? doc.services : undefined;
  if (Array.isArray(services) && services.length > limits.maxServices) {
    throw limitError('specMaxServices', 'services', 'the number of services', String(services.length), String(limits.maxServices));
  }
  let bytes = 0;
  const path: PropertyKey[] = [];
  const add = (n: number) => {
    bytes += n;
    if (bytes > limits.maxBytes) throw limitError('specMaxBytes', 'the document', 'the size as JSON', `more than ${limits.maxBytes} bytes`, `${limits.maxBytes} bytes`);
  };
  const string = (s: string, what: string) => {
    const n = Buffer.byteLength(s);
    if (n > limits.maxValueBytes) throw limitError('specMaxValueBytes', formatPath(path), what, `${n} bytes`, `${limits.maxValueBytes} bytes`);
    add(n + 2);
  };
  const visit = (value: unknown, depth: number): void => {
    if (typeof value === 'string') return string(value, 'the value');
    if (value === null || typeof value !== 'object') return add(String(value).length);
    if (depth > limits.maxDepth) throw depthError(formatPath(path), limits);
    add(2);
    if (Array.isArray(value)) {
      value.forEach((item, i) => {
        path.push(i);
        visit(item, depth + 1);
        path.pop();
        add(1);
      });
      return;
    }
    for (const [key, item] of Object.entries(value)) {
      path.push(key);
      string(key, 'the key');
      visit(item, depth + 1);
      path.pop();
      add(2);
    }
  };
  visit(doc, 1);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
