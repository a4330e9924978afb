// Bundles the extension, the inference worker and the CLI (CommonJS for Node; `vscode` stays external),
// and copies the onnxruntime-web WASM files next to them. Flags: --production (minify), --watch.
const esbuild = require('esbuild');
const fs = require('node:fs');
const path = require('node:path');

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');
const ortDist = path.join(__dirname, 'node_modules', 'onnxruntime-web', 'dist');
// The plain build's files run the WASM provider; the asyncify ones are the WebGPU build's (only the
// platform VSIXes ship them, with Dawn).
const WASM_FILES = [
  'ort-wasm-simd-threaded.mjs',
  'ort-wasm-simd-threaded.wasm',
  'ort-wasm-simd-threaded.asyncify.mjs',
  'ort-wasm-simd-threaded.asyncify.wasm',
];

/** @type {import('esbuild').BuildOptions} */
const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: !production,
  minify: production,
  external: ['vscode'],
  logLevel: 'warning',
  // onnxruntime-web's Node build calls createRequire(import.meta.url), which CommonJS lacks.
  define: {
    'import.meta.url': '__linea_import_meta_url',
    // test-only requests (the worker's "crash") are compiled out of the production bundle
    'globalThis.__LINEA_TEST_HOOKS__': String(!production),
  },
  banner: { js: "const __linea_import_meta_url = require('url').pathToFileURL(__filename).href;" },
};

const builds = [
  { entryPoints: ['src/extension.ts'], outfile: 'dist/extension.js' },
  { entryPoints: ['src/worker/inferenceWorker.ts'], outfile: 'dist/worker.js' },
  { entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js' },
].filter((b) => fs.existsSync(b.entryPoints[0]));

function copyWasm() {
  fs.mkdirSync('dist', { recursive: true });
  for (const f of WASM_FILES) fs.copyFileSync(path.join(ortDist, f), path.join('dist', f));
}

async function main() {
  copyWasm();
  const contexts = await Promise.all(builds.map((b) => esbuild.context({ ...common, ...b })));
  if (watch) {
    await Promise.all(contexts.map((c) => c.watch()));
    return;
  }
  await Promise.all(contexts.map((c) => c.rebuild()));
  await Promise.all(contexts.map((c) => c.dispose()));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
