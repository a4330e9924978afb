// Shared by the engine tests: paths to the golden fixtures and a loader for the tiny models.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Engine, EngineOptions } from '../../src/engine/engine';
import { openEngine } from '../../src/engine/models';

export const ROOT = path.resolve(__dirname, '../../..');
export const FIXTURES = path.join(ROOT, 'test', 'fixtures');
import { VARIANTS } from '../../src/engine/defaults';
export { VARIANTS };

/** The golden model fixtures: one per variant, and the default's variant with the copy path (its
 * memory ends in a vocabulary-sized bonus table; models/training/fixtures.py). */
export const FIXTURE_MODELS: readonly string[] = [...VARIANTS, 'deltanet-copy'];

export function fixtureFolder(variant: string): string {
  return path.join(FIXTURES, 'models', `tiny-${variant}`);
}

export interface Expected {
  ids: number[];
  schedule: number[];
  context_ids: number[];
  memory: number[];
  null_memory: number[];
  runs: Array<{ tokens: number; logits: number[] }>;
  final_state: Record<string, { shape: number[]; sum: number; abs_sum: number; head: number[] }>;
}

export function expected(variant: string): Expected {
  return JSON.parse(
    readFileSync(path.join(FIXTURES, 'models', `tiny-${variant}.expected.json`), 'utf8'),
  );
}

export async function tinyEngine(
  variant: string,
  options: Partial<EngineOptions> = {},
): Promise<Engine> {
  return openEngine(fixtureFolder(variant), { threads: 1 }, options);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export { seededRandom as rng } from '../../src/engine/core/sampling';
