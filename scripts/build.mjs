// `npm run build`: compiles ts/ into dist/ with esbuild, so no process compiles TypeScript at run time.
//
// The command line is bundled with its dependencies and split at every dynamic import: `plan`
// loads one chunk graph, the agent another, and what a command does not import (the Cloudflare
// SDK without a dns section, the control-plane client in standalone mode, the reference control
// plane) stays on disk. Entry points: ts/cli.ts, ts/index.ts and every ts/**/*-worker.ts (worker
// threads). All outputs are flat in dist/, so a module that starts a worker with
// `new URL('./x-worker.js', import.meta.url)` finds it beside the chunk it was bundled into.
//
// Kept out of the bundle:
//   - @push.rocks/qenv (loaded from node_modules only where an env overlay exists; its loader
//     imports files by computed paths, which a bundle cannot hold);
//   - packages dockerode loads eagerly for features coreflow never uses: ssh2 (the ssh:// transport;
//     coreflow connects over unix sockets and tcp), @grpc/grpc-js, @grpc/proto-loader, protobufjs
//     (BuildKit sessions for image builds), tar-fs and @balena/dockerignore (image build contexts).
//     They are replaced by a module that throws when used.
// Patched while bundling: docker-modem formats every request with util.inspect (every header,
// the abort signal) for its debug log even when that log is off; the call is made conditional.
// zod's locales but English are left out (370 KB that every start would compile).
// Type checking is `npm run typecheck` (tsc); esbuild only strips types.
import { build } from 'esbuild';
import { readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Packages the bundle loads from node_modules at run time (scripts/runtime-deps.mjs copies them). */
export const external = ['@push.rocks/qenv'];

const root = fileURLToPath(new URL('..', import.meta.url));
const unused = fileURLToPath(new URL('./build-unused-module.cjs', import.meta.url));
const workers = readdirSync(`${root}ts`, { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('-worker.ts'))
  .map((f) => `ts/${f}`);

const eagerDebug = "debug('Sending: %s', util.inspect(";

/** Makes docker-modem's per-request debug formatting run only when its debug log is on. */
const modemDebugOnlyWhenEnabled = {
  name: 'modem-debug-only-when-enabled',
  setup(b) {
    b.onLoad({ filter: /docker-modem[\\/]lib[\\/]modem\.js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      if (!source.includes(eagerDebug)) throw new Error(`${args.path}: the request debug call to patch is gone; update scripts/build.mjs`);
      return { contents: source.replace(eagerDebug, `debug.enabled && ${eagerDebug}`), loader: 'js' };
    });
  },
};

/**
 * zod's namespace export `locales` holds the messages of 40-odd languages (370 KB of the 760 KB
 * zod adds to every start); coreflow reports in English, the locale zod configures by default.
 */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, (args) => {
      if (!readFileSync(args.path, 'utf8').includes('default as en }')) throw new Error(`${args.path}: no English locale to keep; update scripts/build.mjs`);
      return { contents: 'export { default as en } from "./en.js";\n', loader: 'js' };
    });
  },
};

/** Builds dist/: built beside it and swapped in, so a process running from dist/ meanwhile sees a whole build. */
async function buildDist() {
  const next = `dist.next-${process.pid}`;
  await build({
    absWorkingDir: root,
    entryPoints: ['ts/cli.ts', 'ts/index.ts', ...workers],
    outdir: next,
    entryNames: '[name]',
    chunkNames: '[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'linked',
    external,
    alias: Object.fromEntries(['ssh2', '@grpc/grpc-js', '@grpc/proto-loader', 'protobufjs', 'tar-fs', '@balena/dockerignore'].map((p) => [p, unused])),
    // Bundled CommonJS packages call require() for Node's built-in modules.
    banner: { js: "import { createRequire as __coreflowRequire } from 'node:module'; const require = __coreflowRequire(import.meta.url);" },
    plugins: [modemDebugOnlyWhenEnabled, zodEnglishOnly],
    logLevel: 'warning',
  });
  rmSync(`${root}dist`, { recursive: true, force: true });
  renameSync(`${root}${next}`, `${root}dist`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await buildDist();
