// Where the CLI finds the repository, its models, the worker, onnxruntime's WASM and Dawn: beside the
// bundle (dist/cli.js) or the compiled tests (out/src/cli/), both one folder deep like this file.
import { existsSync } from 'node:fs';
import * as path from 'node:path';

export function repoRoot(): string {
  // dist/cli.js (bundle) or out/src/cli/paths.js (tests)
  for (const up of ['..', '../../..']) {
    const root = path.resolve(__dirname, up);
    if (existsSync(path.join(root, 'package.json')) && existsSync(path.join(root, 'models')))
      return root;
  }
  return path.resolve(__dirname, '..');
}

export function modelRoots(): string[] {
  return [path.join(repoRoot(), 'models')];
}

export function workerPath(): string {
  const bundled = path.join(__dirname, 'worker.js');
  return existsSync(bundled) ? bundled : path.join(__dirname, '..', 'worker', 'inferenceWorker.js');
}

export function wasmPaths(): string | undefined {
  return existsSync(path.join(__dirname, 'ort-wasm-simd-threaded.wasm')) ? __dirname : undefined;
}

/** Where a bundled CLI finds Dawn beside it (dist/webgpu/<platform>/dawn.node), as the VSIX does. */
export function dawnDirs(): string[] {
  return [path.join(__dirname, 'webgpu')];
}
