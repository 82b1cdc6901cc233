import t from 'tap';
import { reachableAddress } from '../../ts/backup/agent-endpoint.ts';

const local = [
  { address: '127.0.0.1', cidr: '127.0.0.1/8', family: 'IPv4' },
  { address: '10.213.0.1', cidr: '10.213.0.1/24', family: 'IPv4' },
  { address: '192.168.1.20', cidr: '192.168.1.20/24', family: 'IPv4' },
  { address: 'fe80::1', cidr: 'fe80::1/64', family: 'IPv6' },
];

t.test('the agent\'s address as the swarm sees it', async (t) => {
  t.equal(reachableAddress('127.0.0.1', local), '127.0.0.1', 'the manager\'s address is this host\'s: itself');
  t.equal(reachableAddress('192.168.1.20', local), '192.168.1.20');
  t.equal(reachableAddress('10.213.0.11', local), '10.213.0.1', 'a manager in a namespace on this host\'s bridge: the bridge address');
  t.equal(reachableAddress('172.30.5.9', local), '172.30.5.9', 'no subnet in common: the swarm address');
  t.equal(reachableAddress('not-an-ip', local), 'not-an-ip');
});
