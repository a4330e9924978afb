#!/usr/bin/env node
// Copies the browser-side libraries the webview loads into media/vendor/ (packaged, never fetched).
const fs = require('node:fs');
const path = require('node:path');
const root = path.join(__dirname, '..');
const out = path.join(root, 'media', 'vendor');
fs.mkdirSync(out, { recursive: true });
fs.copyFileSync(path.join(root, 'node_modules', 'chart.js', 'dist', 'chart.umd.min.js'), path.join(out, 'chart.umd.min.js'));
