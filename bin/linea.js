#!/usr/bin/env node
// The `linea` command: the bundled CLI (npm run build makes dist/cli.js).
const path = require('node:path');
const { existsSync } = require('node:fs');
const cli = path.join(__dirname, '..', 'dist', 'cli.js');
if (!existsSync(cli)) {
  console.error('linea: dist/cli.js is missing; run `npm run build` first');
  process.exit(1);
}
// Exit once stdout has drained: a piped `--json` report is larger than the pipe's buffer.
require(cli)
  .main(process.argv.slice(2))
  .then((code) => process.stdout.write('', () => process.exit(code)));
