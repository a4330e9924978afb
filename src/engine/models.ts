// Where models live and which one is the default.
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { Engine, type EngineOptions } from './engine';
import { discoverModels, type ModelEntry } from './runtime/manifest';
import type { RuntimeOptions } from './runtime/runtime';
import { ScheduledModel } from './runtime/scheduler';
import { BpeTokenizer } from './core/tokenizer';

export { DEFAULT_MODEL_ID } from './defaults';

/** Resolves a model id (searched in `roots`) or a path to a model folder. */
export function resolveModel(idOrPath: string, roots: string[]): string {
  if (existsSync(path.join(idOrPath, 'manifest.json'))) return path.resolve(idOrPath);
  const models = discoverModels(roots);
  const hit = models.find(
    (m) => m.manifest?.id === idOrPath || path.basename(m.folder) === idOrPath,
  );
  if (hit) return hit.folder;
  const known = models.map((m) => m.manifest?.id ?? path.basename(m.folder)).join(', ') || 'none';
  throw new Error(`no model "${idOrPath}" in ${roots.join(', ')} (found: ${known})`);
}

export function listModels(roots: string[]): ModelEntry[] {
  return discoverModels(roots);
}

/**
 * A model folder's sessions (on the backends `runtime` allows) and tokenizer, ready to complete.
 * With a background warm-up the engine times the backends after it; without one (the CLI) that
 * happens here, before the first completion.
 */
export async function openEngine(
  folder: string,
  runtime: RuntimeOptions,
  options: Partial<EngineOptions> = {},
): Promise<Engine> {
  const session = await ScheduledModel.open(folder, runtime);
  if (!options.warmUpMs) await session.calibrate();
  const tok = BpeTokenizer.load(path.join(folder, session.manifest.tokenizer.file));
  return new Engine(session, tok, options);
}
