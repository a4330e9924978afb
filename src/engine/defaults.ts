// One home for the defaults the engine, the CLI, the extension's settings and package.json share.
// No imports: the extension host bundles this file without the engine behind it. package.json cannot
// import it, so test/vscode/settings.test.ts checks that its schema says the same.

/** The shipped model the CLI and the extension use unless told otherwise. */
export const DEFAULT_MODEL_ID = 'linea-deltanet';

/** Stop generating this long after the request (linea.timeBudgetMs). */
export const DEFAULT_TIME_BUDGET_MS = 1500;

/** Where a model runs: onnxruntime-web's WASM or WebGPU execution provider. */
export const BACKENDS = ['wasm', 'webgpu'] as const;
export type BackendKind = (typeof BACKENDS)[number];

/** The attention variants a model folder may have (manifest "variant"), in the order they are offered. */
export const VARIANTS = [
  'linear',
  'decay',
  'deltanet',
  'hybrid',
  'softmax',
  'luna',
  'sparse',
] as const;
export type Variant = (typeof VARIANTS)[number];
