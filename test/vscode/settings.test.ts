// Extension-host glue that needs no editor: settings normalisation.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  DEFAULTS,
  effectiveThreads,
  VARIANT_CHOICES,
  languageEnabled,
  normalise,
  type Settings,
} from '../../src/vscode/settings';

const from = (raw: Record<string, unknown>) => normalise((k) => raw[k]);

describe('settings', () => {
  it('keeps the defaults when nothing is set', () => {
    const { settings, problems } = from({});
    assert.deepEqual(settings, DEFAULTS);
    assert.deepEqual(problems, []);
  });

  it('reads valid values and clamps numbers into range', () => {
    const { settings, problems } = from({
      model: ' linea-softmax ',
      variant: 'luna',
      threads: 999,
      debounceMs: -5,
      multiline: true,
      minConfidence: 0.3,
    });
    assert.equal(settings.model, 'linea-softmax');
    assert.equal(settings.variant, 'luna');
    assert.equal(settings.threads, 64);
    assert.equal(settings.debounceMs, 0);
    assert.equal(settings.multiline, true);
    assert.equal(settings.minConfidence, 0.3);
    assert.deepEqual(problems, []);
  });

  it('replaces malformed values by their defaults and says so', () => {
    const { settings, problems } = from({
      variant: 'quantum',
      backend: 3,
      maxTokens: 'lots',
      modelsPath: 'not-a-list',
      languages: { python: 'yes' },
      minConfidence: 1.5, // a probability: not clamped, since 1 would hide everything
    });
    assert.equal(settings.variant, 'auto');
    assert.equal(settings.backend, 'auto');
    assert.equal(settings.maxTokens, DEFAULTS.maxTokens);
    assert.deepEqual(settings.modelsPath, []);
    assert.equal(settings.minConfidence, DEFAULTS.minConfidence);
    assert.equal(problems.length, 6);
    assert.match(problems.join('\n'), /linea\.minConfidence: ignored 1\.5/);
    assert.match(problems.join('\n'), /linea\.variant: ignored "quantum"/);
    assert.match(problems.join('\n'), /linea\.languages\.python/);
  });

  it('enables languages per id with "*" as the fallback', () => {
    const s: Settings = from({ languages: { '*': false, python: true } }).settings;
    assert.equal(languageEnabled(s, 'python'), true);
    assert.equal(languageEnabled(s, 'typescript'), false);
    assert.equal(languageEnabled({ ...s, enable: false }, 'python'), false);
    assert.equal(languageEnabled(DEFAULTS, 'markdown'), false);
    assert.equal(languageEnabled(DEFAULTS, 'rust'), true);
  });

  it('picks threads from the cores when the setting is 0', () => {
    assert.equal(effectiveThreads(DEFAULTS, 2), 1);
    assert.equal(effectiveThreads(DEFAULTS, 16), 4);
    assert.equal(effectiveThreads({ ...DEFAULTS, threads: 3 }, 2), 3);
  });
});

describe('package.json settings schema', () => {
  const root = path.join(__dirname, '..', '..', '..');
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  const props: Record<string, { default: unknown; enum?: string[]; enumDescriptions?: string[] }> =
    pkg.contributes.configuration.properties;

  it('declares every setting with the default the reader uses', () => {
    const keys = Object.keys(DEFAULTS).map((k) => `linea.${k}`);
    assert.deepEqual(Object.keys(props).sort(), keys.sort());
    for (const [key, value] of Object.entries(DEFAULTS))
      assert.deepEqual(props[`linea.${key}`].default, value, `linea.${key}`);
  });

  it('offers every variant the reader accepts and says which are shipped', () => {
    const variant = props['linea.variant'];
    assert.deepEqual(variant.enum, [...VARIANT_CHOICES]);
    const models = path.join(root, 'models');
    const shipped = new Set(
      readdirSync(models)
        .filter((d) => d.startsWith('linea-'))
        .map(
          (d) => JSON.parse(readFileSync(path.join(models, d, 'manifest.json'), 'utf8')).variant,
        ),
    );
    assert.ok(shipped.has('deltanet'));
    variant.enum!.forEach((v, i) => {
      if (v === 'auto') return;
      const says = variant.enumDescriptions![i];
      assert.equal(says.endsWith('— shipped'), shipped.has(v), `${v}: ${says}`);
    });
  });
});
