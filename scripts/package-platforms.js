#!/usr/bin/env node
// Platform VSIXes: the universal package plus Dawn (npm `webgpu`) for one platform and onnxruntime's
// WebGPU build, so `linea.backend` auto/webgpu can use the GPU. Run after `npm run package`.
//   node scripts/package-platforms.js [linux-x64,darwin-arm64,...]   (default: all six)
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
// VS Code target -> the webgpu package's folder (macOS ships one universal binary)
const TARGETS = {
  'linux-x64': 'linux-x64',
  'linux-arm64': 'linux-arm64',
  'darwin-x64': 'darwin-universal',
  'darwin-arm64': 'darwin-universal',
  'win32-x64': 'win32-x64',
  'win32-arm64': 'win32-arm64',
};
const wanted = process.argv[2] ? process.argv[2].split(',') : Object.keys(TARGETS);
const dawnDist = path.join(path.dirname(require.resolve('webgpu/package.json', { paths: [root] })), 'dist');
const stage = path.join(root, 'dist', 'webgpu');
const ignoreFile = path.join(root, '.vscodeignore.platform');
const vsce = path.join(root, 'node_modules', '@vscode', 'vsce', 'vsce');

const base = fs.readFileSync(path.join(root, '.vscodeignore'), 'utf8');
fs.writeFileSync(
  ignoreFile,
  base + '!dist/ort-wasm-simd-threaded.asyncify.mjs\n!dist/ort-wasm-simd-threaded.asyncify.wasm\n!dist/webgpu/**\n',
);
try {
  for (const target of wanted) {
    const plat = TARGETS[target];
    if (!plat) throw new Error(`unknown target ${target} (known: ${Object.keys(TARGETS).join(', ')})`);
    fs.rmSync(stage, { recursive: true, force: true });
    // the whole folder: on Windows dawn.node needs its DLLs beside it
    fs.cpSync(path.join(dawnDist, plat), path.join(stage, plat), { recursive: true });
    const out = `linea-${target}.vsix`;
    execFileSync(
      process.execPath,
      [vsce, 'package', '--target', target, '--ignoreFile', ignoreFile, '--no-dependencies',
        '--allow-missing-repository', '--no-rewrite-relative-links', '--out', out],
      { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] },
    );
    console.log(`${out}: ${(fs.statSync(path.join(root, out)).size / 1e6).toFixed(1)} MB`);
  }
} finally {
  fs.rmSync(stage, { recursive: true, force: true });
  fs.rmSync(ignoreFile, { force: true });
}
