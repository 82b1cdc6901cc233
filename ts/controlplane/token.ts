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
