// Model manifests: what a model folder contains, checked before anything is loaded so a broken
// model fails with a message that names the file and the problem.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import type { Manifest } from '../core/session';

export type { GraphEntry, Manifest, StateDtype, StateEntry } from '../core/session';

export class ModelError extends Error {
  constructor(
    message: string,
    readonly file?: string,
  ) {
    super(message);
    this.name = 'ModelError';
  }
}

function fail(file: string, problem: string): never {
  throw new ModelError(`${file}: ${problem}`, file);
}

function check(cond: boolean, file: string, problem: string): asserts cond {
  if (!cond) fail(file, problem);
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads and validates folder/manifest.json (structure only; verifyFiles checks the files). */
export function readManifest(folder: string): Manifest {
  const file = path.join(folder, 'manifest.json');
  if (!existsSync(file)) fail(file, 'missing (not a Linea model folder)');
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    fail(file, `not valid JSON (${(e as Error).message})`);
  }
  check(isRecord(data), file, 'expected a JSON object');
  check(data.format === 1, file, `unsupported manifest format ${String(data.format)} (expected 1)`);
  for (const key of ['id', 'variant', 'decoder'] as const) {
    check(typeof data[key] === 'string' && data[key] !== '', file, `"${key}" must be a string`);
  }
  check(isRecord(data.graphs), file, '"graphs" must be an object');
  check(isRecord(data.files), file, '"files" must be an object');
  check(isRecord(data.tokenizer), file, '"tokenizer" must be an object');
  check(isRecord(data.limits), file, '"limits" must be an object');
  check(Array.isArray(data.state) && data.state.length > 0, file, '"state" must be a list');
  const m = data as unknown as Manifest;
  const dec = m.graphs[m.decoder];
  check(isRecord(dec), file, `decoder graph "${m.decoder}" is not in "graphs"`);
  check(
    m.step === undefined || isRecord(m.graphs[m.step]),
    file,
    `step graph "${m.step}" is not in "graphs"`,
  );
  for (const [key, g] of Object.entries(m.graphs)) {
    check(
      typeof g.file === 'string' && Array.isArray(g.inputs) && Array.isArray(g.outputs),
      file,
      `graph "${key}" needs file, inputs and outputs`,
    );
    for (const f of [g.file, ...(g.external_data ?? [])]) {
      check(isRecord(m.files[f]), file, `graph "${key}" uses ${f}, which "files" does not list`);
    }
  }
  for (const s of m.state) {
    check(
      typeof s.input === 'string' &&
        typeof s.output === 'string' &&
        Array.isArray(s.shape) &&
        (s.dtype === 'float32' || s.dtype === 'int64'),
      file,
      `state entry ${JSON.stringify(s).slice(0, 80)} is malformed`,
    );
  }
  check(
    m.state[0].name === 'pos',
    file,
    'the first state tensor must be the position counter "pos"',
  );
  for (const key of ['eos', 'hole', 'pad'] as const) {
    check(Number.isInteger(m.tokenizer[key]), file, `tokenizer.${key} must be an integer id`);
  }
  check(Number.isInteger(m.limits.max_chunk) && m.limits.max_chunk > 0, file, 'limits.max_chunk');
  // A prefill graph comes with its length, longer than a chunk (else the chunk graph would do).
  check(
    (m.prefill === undefined) === (m.limits.prefill_chunk === undefined),
    file,
    '"prefill" and limits.prefill_chunk go together',
  );
  check(
    m.prefill === undefined || isRecord(m.graphs[m.prefill]),
    file,
    `prefill graph "${m.prefill}" is not in "graphs"`,
  );
  check(
    m.limits.prefill_chunk === undefined ||
      (Number.isInteger(m.limits.prefill_chunk) && m.limits.prefill_chunk > m.limits.max_chunk),
    file,
    'limits.prefill_chunk must be an integer above limits.max_chunk',
  );
  check(
    m.languageHeader === undefined ||
      (typeof m.languageHeader === 'string' && m.languageHeader.includes('{}')),
    file,
    '"languageHeader" must be a format string with "{}" for the language',
  );
  return m;
}

/** sha256 of every file the manifest lists: missing and corrupt files are named. */
export function verifyFiles(folder: string, m: Manifest): void {
  for (const [name, want] of Object.entries(m.files)) {
    const file = path.join(folder, name);
    if (!existsSync(file)) fail(file, 'missing (listed in manifest.json)');
    const size = statSync(file).size;
    if (size !== want.bytes)
      fail(file, `is ${size} bytes, manifest.json says ${want.bytes} (corrupt or truncated)`);
    const got = createHash('sha256').update(readFileSync(file)).digest('hex');
    if (got !== want.sha256)
      fail(file, 'sha256 does not match manifest.json (corrupt or replaced)');
  }
}

export interface ModelEntry {
  folder: string;
  manifest?: Manifest;
  error?: string;
}

/** Model folders (those with a manifest.json) directly under each of `roots`, sorted by id. */
export function discoverModels(roots: string[]): ModelEntry[] {
  const out: ModelEntry[] = [];
  for (const root of roots) {
    if (!existsSync(root)) continue;
    for (const name of readdirSync(root).sort()) {
      const folder = path.join(root, name);
      if (!statSync(folder).isDirectory() || !existsSync(path.join(folder, 'manifest.json')))
        continue;
      try {
        out.push({ folder, manifest: readManifest(folder) });
      } catch (e) {
        out.push({ folder, error: (e as Error).message });
      }
    }
  }
  return out;
}
