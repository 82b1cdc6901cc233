// Stands in, in the built bundle, for a package coreflow never calls (see scripts/build.mjs):
// loading it costs nothing; using any of its exports throws.
const unused = () => {
  throw new Error('coreflow is built without this package (ssh:// Docker hosts and BuildKit sessions are not supported)');
};
module.exports = new Proxy({}, { get: (_target, key) => (typeof key === 'symbol' || key === '__esModule' ? undefined : unused) });
