// Linea's settings, normalised into types. Pure (no `vscode` import) so it is unit-tested in Node.
// Adding a setting: schema in package.json -> field here -> normalise() -> its use (and the README table).

import {
  BACKENDS,
  DEFAULT_MIN_CONFIDENCE,
  DEFAULT_MODEL_ID,
  DEFAULT_TIME_BUDGET_MS,
  VARIANTS,
} from '../engine/defaults';

export const VARIANT_CHOICES = ['auto', ...VARIANTS] as const;
export type VariantChoice = (typeof VARIANT_CHOICES)[number];
/** linea.backend: 'auto' (WebGPU where it pays) or one of the engine's backends. */
export const BACKEND_CHOICES = ['auto', ...BACKENDS] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export interface Settings {
  enable: boolean;
  /** Language id -> enabled; "*" is the default for languages not listed. */
  languages: Record<string, boolean>;
  model: string;
  variant: VariantChoice;
  backend: BackendChoice;
  threads: number;
  multiline: boolean;
  maxLines: number;
  debounceMs: number;
  maxTokens: number;
  timeBudgetMs: number;
  memoryBudgetMB: number;
  modelsPath: string[];
  recall: boolean;
  'recall.openEditors': boolean;
  /** Recently edited workspace files recall reads (0: none). */
  'recall.recentFiles': number;
  /** Suggestions less likely than this (first line) are hidden unless asked for; 0 shows all. */
  minConfidence: number;
}

export const DEFAULTS: Settings = {
  enable: true,
  languages: { '*': true, plaintext: false, markdown: false, scminput: false },
  model: DEFAULT_MODEL_ID,
  variant: 'auto',
  backend: 'auto',
  threads: 0,
  multiline: false,
  maxLines: 8,
  debounceMs: 60,
  maxTokens: 48,
  timeBudgetMs: DEFAULT_TIME_BUDGET_MS,
  memoryBudgetMB: 256,
  modelsPath: [],
  recall: true,
  'recall.openEditors': true,
  'recall.recentFiles': 20,
  minConfidence: DEFAULT_MIN_CONFIDENCE,
};

export interface Normalised {
  settings: Settings;
  /** One line per value that was replaced by its default, for the log. */
  problems: string[];
}

type Get = (key: keyof Settings) => unknown;

function int(v: unknown, min: number, max: number): number | undefined {
  return typeof v === 'number' && Number.isFinite(v)
    ? Math.min(max, Math.max(min, Math.round(v)))
    : undefined;
}

/** Reads every setting through `get`, keeping defaults for missing or malformed values. */
export function normalise(get: Get): Normalised {
  const problems: string[] = [];
  const s: Settings = { ...DEFAULTS, languages: { ...DEFAULTS.languages }, modelsPath: [] };
  const pick = <K extends keyof Settings>(key: K, value: Settings[K] | undefined) => {
    const raw = get(key);
    if (raw === undefined) return;
    if (value === undefined)
      problems.push(
        `linea.${key}: ignored ${JSON.stringify(raw)}, using ${JSON.stringify(DEFAULTS[key])}`,
      );
    else s[key] = value;
  };
  const bool = (v: unknown) => (typeof v === 'boolean' ? v : undefined);
  pick('enable', bool(get('enable')));
  const langs = get('languages');
  if (langs !== undefined) {
    if (typeof langs === 'object' && langs !== null && !Array.isArray(langs)) {
      for (const [k, v] of Object.entries(langs)) {
        if (typeof v === 'boolean') s.languages[k] = v;
        else
          problems.push(
            `linea.languages.${k}: ignored ${JSON.stringify(v)} (expected true or false)`,
          );
      }
    } else
      problems.push(`linea.languages: expected an object such as {"*": true, "markdown": false}`);
  }
  const model = get('model');
  pick('model', typeof model === 'string' && model.trim() !== '' ? model.trim() : undefined);
  const variant = get('variant');
  pick(
    'variant',
    (VARIANT_CHOICES as readonly unknown[]).includes(variant)
      ? (variant as VariantChoice)
      : undefined,
  );
  const backend = get('backend');
  pick(
    'backend',
    (BACKEND_CHOICES as readonly unknown[]).includes(backend)
      ? (backend as BackendChoice)
      : undefined,
  );
  pick('threads', int(get('threads'), 0, 64));
  pick('multiline', bool(get('multiline')));
  pick('recall', bool(get('recall')));
  pick('recall.openEditors', bool(get('recall.openEditors')));
  pick('recall.recentFiles', int(get('recall.recentFiles'), 0, 100));
  pick('maxLines', int(get('maxLines'), 1, 100));
  pick('debounceMs', int(get('debounceMs'), 0, 2000));
  pick('maxTokens', int(get('maxTokens'), 1, 512));
  pick('timeBudgetMs', int(get('timeBudgetMs'), 50, 30000));
  pick('memoryBudgetMB', int(get('memoryBudgetMB'), 16, 16384));
  const confidence = get('minConfidence');
  pick(
    'minConfidence',
    typeof confidence === 'number' && confidence >= 0 && confidence <= 1 ? confidence : undefined,
  );
  const paths = get('modelsPath');
  pick(
    'modelsPath',
    Array.isArray(paths) && paths.every((p) => typeof p === 'string')
      ? (paths as string[])
      : undefined,
  );
  return { settings: s, problems };
}

export function languageEnabled(s: Settings, languageId: string): boolean {
  return s.enable && (s.languages[languageId] ?? s.languages['*'] ?? true);
}

/** WASM threads: the setting, or all cores but one (the extension host keeps one), at most 4. */
export function effectiveThreads(s: Settings, cores: number): number {
  return s.threads > 0 ? s.threads : Math.max(1, Math.min(4, cores - 1));
}
