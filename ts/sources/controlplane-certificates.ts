import { CoreflowError } from '../errors.ts';
import { remoteCode } from '../protocol/peer.ts';
import type { CertificateProvider } from '../routing/certificates.ts';
import type { Session } from './controlplane-connection.ts';

/**
 * Routing's certificate provider in control-plane mode: getCertificateForDomain over the current
 * session. Undefined when the control plane has none for the domain; throws when it cannot answer
 * (not connected, timeout...).
 */
export function controlPlaneCertificates(session: () => Session | undefined): CertificateProvider {
  return {
    async getCertificateForDomain(domain) {
      const current = session();
      if (!current) throw new CoreflowError('COREFLOW_ERR_PEER_CLOSED', { method: 'getCertificateForDomain' });
      try {
        const cert = await current.peer.request('getCertificateForDomain', { domain });
        return { publicKey: cert.certPem, privateKey: cert.keyPem };
      } catch (err) {
        if (remoteCode(err) === 'COREFLOW_ERR_NO_CERTIFICATE') return undefined;
        throw err;
      }
    },
  };
}
