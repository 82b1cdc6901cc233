import { CoreflowError } from '../errors.ts';

/** `host:port`, `[v6]:port` or `:port` (all interfaces); port 0 picks a free one. */
export function parseAddr(addr: string, flag = '--addr'): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(addr.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new CoreflowError('COREFLOW_ERR_USAGE', { details: `${flag}: expected host:port such as 127.0.0.1:4400, got "${addr}"` });
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}
