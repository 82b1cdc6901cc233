import { open, type FileHandle } from 'node:fs/promises';
import type { z } from 'zod';
import { CoreflowError, errorText } from '../errors.ts';
import { bindingSpecErrors } from './bindings-schema.ts';
import { dnsSpecErrors } from './dns-checks.ts';
import { hashOf } from './hash.ts';
import { checkDocumentLimits, DEFAULT_SPEC_LIMITS, sizeError, type SpecLimits } from './limits.ts';
import { formatPath } from './path.ts';
import { clusterSpecSchema } from './schema.ts';
import type { ClusterSpec } from './types.ts';
import { parseJsonObjectText } from './json-text.ts';

export interface LoadedSpec {
  spec: ClusterSpec;
  /** Hash of the whole validated document; equal hashes mean equal desired state. */
  hash: string;
}

/** A rejected document lists at most this many problems (and how many more there are). */
export const MAX_LISTED_PROBLEMS = 100;

export function issueLines(issues: readonly z.core.$ZodIssue[]): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) lines.push(`${formatPath([...issue.path, key])}: unknown key`);
    } else if (issue.code === 'invalid_type' && issue.input === undefined) {
      lines.push(`${formatPath(issue.path)}: required`);
    } else if (issue.code === 'invalid_key') {
      // A record's key failed its own schema: say what that schema expects, not "Invalid key in record".
      lines.push(`${formatPath(issue.path)}: ${issue.issues[0]?.message ?? issue.message}`);
    } else {
      lines.push(`${formatPath(issue.path)}: ${issue.message}`);
    }
  }
  return lines;
}

/** Rules that span records: names unique within their kind. */
function crossChecks(spec: ClusterSpec): string[] {
  const errors: string[] = [];
  const unique = (items: readonly { key: string }[], path: string, what: string) => {
    const seen = new Map<string, number>();
    items.forEach(({ key }, i) => {
      const first = seen.get(key);
      if (first !== undefined) errors.push(`${path}[${i}].${what}: duplicate "${key}" (also ${path}[${first}])`);
      else seen.set(key, i);
    });
  };
  unique(spec.services.map((s) => ({ key: s.name })), 'services', 'name');
  unique(spec.secretBundles.map((b) => ({ key: b.id })), 'secretBundles', 'id');
  unique(spec.registries.map((r) => ({ key: r.id })), 'registries', 'id');
  if (spec.networks.gateway.name === spec.networks.internal.name && !(spec.networks.gateway.external && spec.networks.internal.external)) {
    errors.push(`networks.internal.name: must differ from networks.gateway.name ("${spec.networks.gateway.name}")`);
  }
  const baseNames = new Map<string, string>();
  for (const [key, base] of Object.entries(spec.baseServices)) if (base.enabled) baseNames.set(base.name, key);
  spec.services.forEach((s, i) => {
    const base = baseNames.get(s.name);
    if (base) errors.push(`services[${i}].name: "${s.name}" is the name of base service baseServices.${base}`);
  });
  errors.push(...dnsSpecErrors(spec));
  errors.push(...bindingSpecErrors(spec.services));
  return errors;
}

function invalid(lines: readonly string[]): CoreflowError {
  const listed = lines.slice(0, MAX_LISTED_PROBLEMS).map((l) => `  - ${l}`);
  if (lines.length > MAX_LISTED_PROBLEMS) listed.push(`  - (and ${lines.length - MAX_LISTED_PROBLEMS} more problems)`);
  return new CoreflowError('COREFLOW_ERR_SPEC_INVALID', { details: listed.join('\n') });
}

/**
 * Validates a parsed document. Throws COREFLOW_ERR_SPEC_LIMIT when it is over a limit (checked
 * first, on the plain value), COREFLOW_ERR_SPEC_INVALID listing the problems with their paths
 * otherwise; returns the defaulted spec when it is valid.
 */
export function validateSpec(doc: unknown, limits: SpecLimits = DEFAULT_SPEC_LIMITS): LoadedSpec {
  checkDocumentLimits(doc, limits);
  const result = clusterSpecSchema.safeParse(doc, { reportInput: true });
  if (!result.success) throw invalid(issueLines(result.error.issues));
  const cross = crossChecks(result.data);
  if (cross.length > 0) throw invalid(cross);
  return { spec: result.data, hash: hashOf(result.data) };
}

/** The list of problems inside a COREFLOW_ERR_SPEC_INVALID error, one per line. */
export function specErrors(err: CoreflowError): string[] {
  return String(err.params.details ?? '')
    .split('\n')
    .map((l) => l.replace(/^\s*-\s*/, ''))
    .filter((l) => l !== '');
}

/**
 * Reads a spec file, refusing one over maxBytes by its size before reading it; the read stops at
 * the limit too, should the file grow in between, so memory used stays within the limit.
 */
export async function readSpecFile(path: string, limits: SpecLimits = DEFAULT_SPEC_LIMITS): Promise<string> {
  const where = `spec file ${path}`;
  let file: FileHandle | undefined;
  try {
    file = await open(path, 'r');
    const { size } = await file.stat();
    if (size > limits.maxBytes) throw sizeError(where, size, limits);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.alloc(Math.min(Math.max(size - total, 65536), limits.maxBytes - total + 1));
      const { bytesRead } = await file.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > limits.maxBytes) throw sizeError(where, total, limits);
      chunks.push(chunk.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } catch (err) {
    if (err instanceof CoreflowError) throw err;
    throw new CoreflowError('COREFLOW_ERR_SPEC_READ', { path, details: errorText(err) });
  } finally {
    await file?.close();
  }
}

/**
 * Reads, parses and validates a spec file. A JSON object is read by the native parser without
 * loading the YAML parser (about 25 ms of every start).
 */
export async function loadSpecFile(path: string, limits: SpecLimits = DEFAULT_SPEC_LIMITS): Promise<LoadedSpec> {
  const text = await readSpecFile(path, limits);
  const doc = parseJsonObjectText(text, path, limits.maxDepth) ?? (await import('./spec-text.ts')).parseYamlDocument(text, path, limits);
  return validateSpec(doc, limits);
}
