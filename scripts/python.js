#!/usr/bin/env node
// Runs the project's Python (the .venv that `npm run setup` makes, else python3) with the given args,
// so npm scripts work the same here, in CI and on a laptop.
const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const path = require('node:path');

const venv = path.join(__dirname, '..', '.venv', 'bin', 'python');
const python = existsSync(venv) ? venv : 'python3';
const result = spawnSync(python, process.argv.slice(2), { stdio: 'inherit' });
if (result.error) {
  console.error(`linea: could not start ${python}: ${result.error.message}. Run \`npm run setup\` first.`);
  process.exit(1);
}
process.exit(result.status ?? 1);
