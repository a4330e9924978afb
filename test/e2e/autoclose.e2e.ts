// Accepting a suggestion where VS Code auto-closed a bracket or a quote leaves exactly the code the
// suggestion meant: no doubled or stray closer. VS Code's default editor settings (auto-closing on),
// TypeScript and Python, Tab and VS Code's Accept Next Word. The files repeat a line the test then
// types again, so recall makes the suggestion known in advance and the accepted line can be checked
// character for character.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import {
  acceptGhostText,
  editorText,
  openFile,
  screenshot,
  lineaAskedCount,
  typeAndWaitForGhost,
  waitForGhostText,
  waitForStatusBar,
  withLinea,
  type BrowserSession,
  type CodeServer,
} from './harness';

const ROOT = path.resolve(__dirname, '../../..');
const VSIX = path.join(ROOT, 'linea.vsix');

const TS_FILE = `export class Schema {
  private _type: unknown = null;

  isObject(value: unknown): boolean {
    return typeof value === 'object' && value !== null;
  }

  check(): void {
    if (this.isObject(this._type)) {
      this.visit([this._type, 'object']);
    }
    const label = describe("schema", { strict: true });
  }

  recheck(): void {
    `;

const PY_FILE = `def handle(items):
    for item in items:
        if isinstance(item, dict):
            print("dict:", item["name"])
    values = [item["name"] for item in items]


def handle_again(items):
    for item in items:
        `;

/** The line the cursor is on, without ghost text. */
async function cursorLine(page: BrowserSession['page'], startsWith: string): Promise<string> {
  const lines = (await editorText(page)).split('\n');
  const hits = lines.filter((l) => l.trimStart().startsWith(startsWith));
  return hits[hits.length - 1] ?? '';
}

/**
 * Types `typed` on a fresh line (VS Code auto-closes what it opens), waits for the suggestion,
 * accepts it (Accept Next Word `partial` times first, then Tab) and returns the line.
 */
async function typeAndAccept(
  page: BrowserSession['page'],
  server: CodeServer,
  typed: string,
  want: string,
  shot: string,
  partial = 0,
): Promise<string> {
  await page.keyboard.press('Control+End');
  await typeAndWaitForGhost(page, () => lineaAskedCount(server), typed);
  await screenshot(page, `${shot}-ghost`);
  for (let i = 0; i < partial; i++) {
    await page.keyboard.press('Control+ArrowRight'); // VS Code's Accept Next Word
    await waitForGhostText(page, 10_000);
  }
  await acceptGhostText(page);
  const deadline = Date.now() + 15_000;
  let line = '';
  while (Date.now() < deadline) {
    line = await cursorLine(page, want.trimStart().slice(0, 6));
    if (line.trim() === want.trim()) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await screenshot(page, `${shot}-accepted`);
  // a new line for the next case, at the same indentation
  await page.keyboard.press('End');
  await page.keyboard.press('Enter');
  return line;
}

/** Linea in a fresh code-server on a folder holding `files`, with VS Code's default editor settings. */
function withEditor(
  name: string,
  files: Record<string, string>,
  run: (page: BrowserSession['page'], server: CodeServer) => Promise<void>,
): Promise<void> {
  // Nothing about the editor is set: auto-closing brackets and quotes are VS Code's defaults.
  // No confidence gate: this suite is about what accepting writes, not which suggestions show.
  const settings = { 'linea.debounceMs': 30, 'linea.timeBudgetMs': 4000, 'linea.minConfidence': 0 };
  return withLinea(name, { vsix: VSIX, files, settings }, async (page, server) => {
    await waitForStatusBar(page, 'Linea: deltanet', 120_000);
    await run(page, server);
  });
}

test('accepting after an auto-closed bracket or quote leaves exactly the suggested code', async () => {
  await withEditor(
    'autoclose',
    { 'schema.ts': TS_FILE, 'handle.py': PY_FILE },
    async (page, server) => {
      await openFile(page, 'schema.ts');
      const cases: Array<[string, string, number]> = [
        ['if (', 'if (this.isObject(this._type)) {', 0], // `(` auto-closed
        ['this.visit([', "this.visit([this._type, 'object']);", 0], // `[` then `(`
        ['const label = describe("', 'const label = describe("schema", { strict: true });', 0], // a quote
        ['if (', 'if (this.isObject(this._type)) {', 2], // Accept Next Word twice, then Tab
      ];
      for (const [i, [typed, want, partial]] of cases.entries()) {
        const line = await typeAndAccept(page, server, typed, want, `ac-ts-${i}`, partial);
        assert.equal(line.trim(), want, `TypeScript, typed ${JSON.stringify(typed)}`);
      }

      await openFile(page, 'handle.py');
      const pyCases: Array<[string, string, number]> = [
        ['if isinstance(', 'if isinstance(item, dict):', 0],
        ['print("', 'print("dict:", item["name"])', 0],
        ['values = [', 'values = [item["name"] for item in items]', 1],
      ];
      for (const [i, [typed, want, partial]] of pyCases.entries()) {
        const line = await typeAndAccept(page, server, typed, want, `ac-py-${i}`, partial);
        assert.equal(line.trim(), want, `Python, typed ${JSON.stringify(typed)}`);
      }
    },
  );
});

const REGISTRY = `import { Widget } from './widget';

export function summarise(items: Widget[]): string {
  const checksum = computeWidgetChecksum(items, { seed: 17 });
  return items.map((w) => w.name).join(', ') + checksum;
}
`;
const AUDIT = `import { Widget } from './widget';

export function audit(items: Widget[]): void {
  `;

test('a name used only in another open editor is completed from it', async () => {
  await withEditor(
    'cross-file',
    { 'registry.ts': REGISTRY, 'audit.ts': AUDIT },
    async (page, server) => {
      await openFile(page, 'registry.ts'); // stays open in its tab: recall reads it
      await openFile(page, 'audit.ts');
      const line = await typeAndAccept(
        page,
        server,
        'const checksum = comp',
        'const checksum = computeWidgetChecksum(items, { seed: 17 });',
        'cross-file',
      );
      assert.equal(line.trim(), 'const checksum = computeWidgetChecksum(items, { seed: 17 });');
    },
  );
});
