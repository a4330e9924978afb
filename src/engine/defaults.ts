// One home for the defaults the engine, the CLI, the extension's settings and package.json share.
// No imports: the extension host bundles this file without the engine behind it. package.json cannot
// import it, so test/vscode/settings.test.ts checks that its schema says the same.

/** The shipped model the CLI and the extension use unless told otherwise. */
export const DEFAULT_MODEL_ID = 'linea-deltanet';

/** Stop generating this long after the request (linea.timeBudgetMs). */
export const DEFAULT_TIME_BUDGET_MS = 1500;

/**
 * While the user types, a suggestion whose first line decoding gave a lower probability is not shown
 * (linea.minConfidence; 0 shows all). Fitted on the validation split (200 line-completion cuts, with
 * recall and with recall plus 20 workspace files, pooled): the highest value that keeps 90% of the
 * exact suggestions: 0.15 keeps 78 of 84 and shows 138 of 377 suggestions instead of 377, 57% of
 * them exact instead of 22%. Most wrong suggestions are unsure ones (area under the ROC curve 0.91).
 */
export const DEFAULT_MIN_CONFIDENCE = 0.15;

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
