import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The layering of src/ (ARCHITECTURE.md, "Layering rules"), checked on every import. The patterns
// match the import string, so each is written for the depth of the folder it applies to. Flat config
// replaces a rule's options where two blocks match a file, so each block lists the patterns of the
// folders above it too.

const noVscode = (who) => ({
  name: 'vscode',
  message: `${who} runs outside the extension host, where there is no 'vscode' module.`,
});
const noOnnx = (message) => ({ regex: '^onnxruntime-web(/|$)', message });

/** src/engine/** (any depth): nothing above the engine. */
const engineUp = {
  regex: '^(\\.\\./)+(worker|cli|vscode|extension)(/|$)',
  message:
    'src/engine/ is the bottom of the house: the worker, the CLI and the extension import it, never the other way round. Pass what the engine needs in as a parameter, or move the shared type into src/engine/.',
};
/** src/engine/core|runtime/**: not the Engine and the model loader above them. */
const engineTop = (layer) => ({
  regex: '^\\.\\./(engine|models)$',
  message: `src/engine/${layer}/ is below the Engine: it must not import src/engine/engine.ts or src/engine/models.ts.`,
});

const restrict = (patterns, paths = []) => ['error', { paths, patterns }];

export default tseslint.config(
  { ignores: ['dist/**', 'out/**', 'media/vendor/**', 'node_modules/**', '.venv/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always'],
      'no-console': 'off',
    },
  },
  {
    files: ['src/engine/**/*.ts'],
    rules: { 'no-restricted-imports': restrict([engineUp], [noVscode('The engine')]) },
  },
  {
    files: ['src/engine/defaults.ts', 'src/engine/numbers.ts'],
    rules: {
      'no-restricted-imports': restrict(
        [{ regex: '^\\.', message: 'A leaf of the engine: it imports no file of the project.' }],
        [noVscode('The engine')],
      ),
    },
  },
  {
    files: ['src/engine/core/**/*.ts'],
    rules: {
      'no-restricted-imports': restrict(
        [
          engineUp,
          engineTop('core'),
          {
            regex: '^\\.\\./runtime(/|$)',
            message:
              'src/engine/core/ knows a model only through the ModelSession interface of core/session.ts: it must not import src/engine/runtime/ (onnxruntime, WebGPU, manifest files, scheduling). If the core needs a runtime type, move the type into core/session.ts.',
          },
          noOnnx('src/engine/core/ never touches onnxruntime: it runs against core/session.ts.'),
        ],
        [noVscode('The engine')],
      ),
    },
  },
  {
    files: ['src/engine/runtime/**/*.ts'],
    rules: {
      'no-restricted-imports': restrict(
        [
          engineUp,
          engineTop('runtime'),
          {
            regex: '^\\.\\./core/(?!(session|sampling)$)',
            message:
              "src/engine/runtime/ implements the core's ModelSession and knows nothing else of the core: from src/engine/core/ it may import only session.ts (the interface, its states and the manifest's shape) and sampling.ts (warmUp.ts times the decoder's own greedy pick). Documents, decoding and recall run on top of a session, not under it.",
          },
        ],
        [noVscode('The engine')],
      ),
    },
  },
  {
    files: ['src/worker/**/*.ts'],
    rules: {
      'no-restricted-imports': restrict(
        [
          {
            regex: '^\\.\\./(vscode|cli|extension)(/|$)',
            message:
              'src/worker/ hosts the engine in a worker thread for the extension and the CLI: it must not import src/vscode/, src/extension.ts or src/cli/.',
          },
        ],
        [noVscode('The worker')],
      ),
    },
  },
  {
    files: ['src/cli/**/*.ts'],
    rules: {
      'no-restricted-imports': restrict(
        [
          {
            regex: '^\\.\\./(vscode|extension)(/|$)',
            message:
              'src/cli/ runs in plain Node: it must not import src/vscode/ or src/extension.ts.',
          },
        ],
        [noVscode('The CLI')],
      ),
    },
  },
  {
    // The extension host runs no model: the engine runs in the inference worker, reached through
    // src/worker/client.ts. Types from anywhere are fine (they leave nothing in the bundle).
    files: ['src/vscode/**/*.ts', 'src/extension.ts'],
    rules: {
      'no-restricted-imports': restrict([
        {
          regex: '(^|/)engine/runtime/(?!(manifest|webgpu|networkGuard)$)',
          allowTypeImports: true,
          message:
            'The extension host must not load src/engine/runtime/ (onnxruntime sessions, the scheduler, graph capture, warm-up): the model runs in the inference worker, reached through src/worker/client.ts. Allowed: type imports, and runtime/manifest.ts (listing model folders), runtime/webgpu.ts (its probe runs in a child process) and runtime/networkGuard.ts, none of which loads onnxruntime.',
        },
        {
          regex: '(^|/)engine/(engine|models)$',
          allowTypeImports: true,
          message:
            'The Engine lives in the inference worker: the extension host may import its types only, and reaches it through src/worker/client.ts.',
        },
        {
          regex: '(^|/)worker/(inferenceWorker|compare)$',
          message:
            'This file runs inside the worker thread: the extension host talks to it through src/worker/client.ts and the types of src/worker/protocol.ts.',
        },
        noOnnx('onnxruntime runs in the inference worker only, never in the extension host.'),
      ]),
    },
  },
);
