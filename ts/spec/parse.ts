import { readFile } from 'node:fs/promises';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { CoreflowError, errorText } from '../errors.ts';
import { dnsSpecErrors } from './dns-checks.ts';
import { hashOf } from './hash.ts';
import { clusterSpecSchema } from './schema.ts';
import type { ClusterSpec } from './types.ts';

export interface LoadedSpec {
  spec: ClusterSpec;
  /** Hash of the whole validated document; equal hashes mean equal desired state. */
  hash: string;
}

/** `services[2].ports.web` from a path array. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(document)' : out;
}

export function issueLines(issues: readonly z.core.$ZodIssue[]): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) lines.push(`${formatPath([...issue.path, key])}: unknown key`);
    } else if (issue.code === 'invalid_type' && issue.input === undefined) {
      lines.push(`${formatPath(issue.path)}: required`);
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
  if (spec.networks.gateway.name === spec.networks.internal.name) {
    errors.push(`networks.internal.name: must differ from networks.gateway.name ("${spec.networks.gateway.name}")`);
  }
  const baseNames = new Map<string, string>();
  for (const [key, base] of Object.entries(spec.baseServices)) if (base.enabled) baseNames.set(base.name, key);
  spec.services.forEach((s, i) => {
    const base = baseNames.get(s.name);
    if (base) errors.push(`services[${i}].name: "${s.name}" is the name of base service baseServices.${base}`);
  });
  errors.push(...dnsSpecErrors(spec));
  return errors;
}

/**
 * Validates a parsed document. Throws COREFLOW_ERR_SPEC_INVALID listing every problem with its
 * path; returns the defaulted spec otherwise.
 */
export function validateSpec(doc: unknown): LoadedSpec {
  const result = clusterSpecSchema.safeParse(doc, { reportInput: true });
  if (!result.success) {
    throw new CoreflowError('COREFLOW_ERR_SPEC_INVALID', { details: issueLines(result.error.issues).map((l) => `  - ${l}`).join('\n') });
  }
  const cross = crossChecks(result.data);
  if (cross.length > 0) {
    throw new CoreflowError('COREFLOW_ERR_SPEC_INVALID', { details: cross.map((l) => `  - ${l}`).join('\n') });
  }
  return { spec: result.data, hash: hashOf(result.data) };
}

/** The list of problems inside a COREFLOW_ERR_SPEC_INVALID error, one per line. */
export function specErrors(err: CoreflowError): string[] {
  return String(err.params.details ?? '')
    .split('\n')
    .map((l) => l.replace(/^\s*-\s*/, ''))
    .filter((l) => l !== '');
}

/** Parses YAML or JSON text (JSON is YAML) and validates it. */
export function parseSpec(text: string, source = 'spec'): LoadedSpec {
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    const details = err instanceof YAMLParseError ? err.message.split('\n')[0] ?? err.message : errorText(err);
    throw new CoreflowError('COREFLOW_ERR_SPEC_PARSE', { source, details });
  }
  if (doc === null || doc === undefined) {
    throw new CoreflowError('COREFLOW_ERR_SPEC_PARSE', { source, details: 'the document is empty' });
  }
  return validateSpec(doc);
}

export async function loadSpecFile(path: string): Promise<LoadedSpec> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new CoreflowError('COREFLOW_ERR_SPEC_READ', { path, details: errorText(err) });
  }
  return parseSpec(text, path);
}
