import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { CoreflowError, errorText } from '../errors.ts';

/** The shortest token the reference control plane accepts. */
export const MIN_TOKEN_LENGTH = 16;

/** Reads a token file: its first non-empty line, trimmed. Errors never include the token. */
export async function readTokenFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new CoreflowError('COREFLOW_ERR_USAGE', { details: `cannot read the token file ${path}: ${errorText(err)}` });
  }
  const token = text.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? '';
  if (token.length < MIN_TOKEN_LENGTH) {
    throw new CoreflowError('COREFLOW_ERR_USAGE', { details: `the token file ${path} must hold a token of at least ${MIN_TOKEN_LENGTH} characters on its first line` });
  }
  return token;
}

/**
 * Compares a presented token with the expected one in constant time: both are hashed first, so
 * neither the content nor the length of the expected token leaks through timing.
 */
export function tokenMatches(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1];
}
