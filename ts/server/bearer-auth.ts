import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * The one bearer-token check of every authenticated endpoint (the control plane's HTTP API and
 * agent link, /v1/edge, /v1/traefik): `Authorization: <scheme> <token>` where the scheme is
 * `Bearer` in any letter case (RFC 7235), compared in constant time.
 */

/**
 * Compares a presented token with the expected one in constant time: both are hashed first, so
 * neither the content nor the length of the expected token leaks through timing.
 */
export function tokenMatches(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/** The token of an `Authorization: Bearer <token>` header (scheme in any case), or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  return m?.[1];
}

/** Whether the header carries `expected` as a bearer token; false when there is no expected token. */
export function bearerMatches(header: string | undefined, expected: string | undefined): boolean {
  const presented = bearerToken(header);
  return expected !== undefined && expected !== '' && presented !== undefined && tokenMatches(presented, expected);
}
