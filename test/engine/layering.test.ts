// The layering of src/ (ARCHITECTURE.md) is enforced by no-restricted-imports in eslint.config.mjs:
// imports planted where a layer must not reach fail lint, allowed ones pass, and the real tree is clean.
// lintText lints the planted code under a path inside src/ without writing a file.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { ESLint } from 'eslint';

const ROOT = path.resolve(__dirname, '../../..');
const RULE = 'no-restricted-imports';
const eslint = new ESLint({ cwd: ROOT });

/** The no-restricted-imports messages for `code` linted as if it were the file `file` (from ROOT). */
async function restricted(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, file) });
  assert.equal(result.fatalErrorCount, 0, result.messages.map((m) => m.message).join('\n'));
  return result.messages.filter((m) => m.ruleId === RULE).map((m) => m.message);
}

const PLANTED = [
  {
    why: 'core must not import the runtime',
    file: 'src/engine/core/__planted__.ts',
    code: "import { OrtModel } from '../runtime/runtime';\nexport const planted = OrtModel;\n",
    says: /ModelSession interface of core\/session\.ts/,
  },
  {
    why: 'core must not import even a type of the runtime',
    file: 'src/engine/core/__planted__.ts',
    code: "import type { RuntimeOptions } from '../runtime/runtime';\nexport type Planted = RuntimeOptions;\n",
    says: /must not import src\/engine\/runtime\//,
  },
  {
    why: 'the engine must not import the worker (the old compare.ts back edge)',
    file: 'src/engine/__planted__.ts',
    code: "import type { CompareParams } from '../worker/protocol';\nexport type Planted = CompareParams;\n",
    says: /never the other way round/,
  },
  {
    why: 'a core file must not import the worker either',
    file: 'src/engine/core/__planted__.ts',
    code: "import { EngineClient } from '../../worker/client';\nexport const planted = EngineClient;\n",
    says: /never the other way round/,
  },
  {
    why: 'the runtime must not import decoding',
    file: 'src/engine/runtime/__planted__.ts',
    code: "import { generate } from '../core/decode';\nexport const planted = generate;\n",
    says: /only session\.ts/,
  },
  {
    why: 'the runtime must not import the Engine',
    file: 'src/engine/runtime/__planted__.ts',
    code: "import { openEngine } from '../models';\nexport const planted = openEngine;\n",
    says: /below the Engine/,
  },
  {
    why: 'the extension host must not load onnxruntime sessions',
    file: 'src/vscode/__planted__.ts',
    code: "import { OrtModel } from '../engine/runtime/runtime';\nexport const planted = OrtModel;\n",
    says: /inference worker/,
  },
];

for (const p of PLANTED) {
  test(`a planted import fails lint: ${p.why}`, async () => {
    const messages = await restricted(p.file, p.code);
    assert.equal(messages.length, 1, `expected one ${RULE} error in ${p.file}`);
    assert.match(messages[0], p.says);
  });
}

test('the imports the layers are allowed pass', async () => {
  const allowed = [
    ['src/engine/runtime/__planted__.ts', "import type { ModelSession } from '../core/session';"],
    ['src/engine/runtime/__planted__.ts', "import { pickToken } from '../core/sampling';"],
    ['src/engine/__planted__.ts', "import { OrtModel } from './runtime/runtime';"],
    [
      'src/vscode/__planted__.ts',
      "import type { RuntimeOptions } from '../engine/runtime/runtime';",
    ],
    ['src/vscode/__planted__.ts', "import { discoverModels } from '../engine/runtime/manifest';"],
    ['src/worker/__planted__.ts', "import { openEngine } from '../engine/models';"],
  ];
  for (const [file, line] of allowed) {
    assert.deepEqual(await restricted(file, `${line}\n`), [], `${file}: ${line}`);
  }
});

test('the real tree keeps the layering', async () => {
  const results = await eslint.lintFiles(['src']);
  assert.ok(results.length > 30, `linted ${results.length} files`);
  const broken = results.flatMap((r) =>
    r.messages
      .filter((m) => m.ruleId === RULE)
      .map((m) => `${path.relative(ROOT, r.filePath)}:${m.line}: ${m.message}`),
  );
  assert.deepEqual(broken, []);
});
