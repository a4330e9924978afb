// Proves the e2e harness without Linea: a throwaway extension whose inline completion provider always
// offers "hello from e2e" is packaged with vsce, installed into code-server and used from Chromium.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import {
  acceptGhostText,
  e2eAvailable,
  editorText,
  openBrowser,
  openFile,
  runCommand,
  screenshot,
  startCodeServer,
  statusBarText,
  typeAndWaitForGhost,
  waitForEditorText,
  waitForStatusBar,
  waitForWorkbench,
  type BrowserSession,
  type CodeServer,
} from './harness';

const SUGGESTION = 'hello from e2e';

const manifest = {
  name: 'e2e-smoke',
  displayName: 'E2E Smoke',
  description: 'Throwaway extension for the e2e harness smoke test',
  version: '0.0.1',
  publisher: 'linea-e2e',
  license: 'MIT',
  engines: { vscode: '^1.90.0' },
  // The same activation as Linea, so the test also proves that waiting for it works.
  activationEvents: ['onStartupFinished'],
  main: './extension.js',
  contributes: {
    commands: [{ command: 'e2eSmoke.mark', title: 'Mark Status', category: 'E2E Smoke' }],
  },
};

// Offers the suggestion until the line holds it, so no new ghost text follows the accepted one.
// A second status bar item counts the requests, so the test can tell "VS Code asked nothing" from
// "the provider answered and nothing showed".
const extensionJs = `
const vscode = require('vscode');
exports.activate = (context) => {
  const item = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 1000);
  item.text = 'E2E Ready';
  item.show();
  const asked = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 999);
  let count = 0;
  asked.text = 'E2E asked 0';
  asked.show();
  context.subscriptions.push(
    item,
    asked,
    vscode.languages.registerInlineCompletionItemProvider({ pattern: '**' }, {
      provideInlineCompletionItems(document, position) {
        asked.text = 'E2E asked ' + ++count;
        if (document.lineAt(position.line).text.includes(${JSON.stringify(SUGGESTION)})) return [];
        return [new vscode.InlineCompletionItem(${JSON.stringify(SUGGESTION)}, new vscode.Range(position, position))];
      },
    }),
    vscode.commands.registerCommand('e2eSmoke.mark', () => { item.text = 'E2E Command Ran'; }),
  );
};
`;

async function buildVsix(dir: string): Promise<string> {
  const src = path.join(dir, 'ext');
  await fs.promises.mkdir(src, { recursive: true });
  await fs.promises.writeFile(path.join(src, 'package.json'), JSON.stringify(manifest, null, 2));
  await fs.promises.writeFile(path.join(src, 'extension.js'), extensionJs);
  await fs.promises.writeFile(path.join(src, 'README.md'), '# E2E Smoke\n\nTest fixture.\n');
  await fs.promises.writeFile(path.join(src, 'LICENSE'), 'MIT\n');
  const out = path.join(dir, 'e2e-smoke.vsix');
  // The repo's own vsce; the flags keep it from prompting (CI has no stdin) or running npm.
  const vsce = path.resolve('node_modules/@vscode/vsce/vsce');
  const args = ['package', '--no-dependencies', '--allow-missing-repository', '--out', out];
  await promisify(execFile)(process.execPath, [vsce, ...args], { cwd: src });
  return out;
}

test('harness drives code-server: activation, ghost text, Tab, status bar, palette', async () => {
  const unavailable = e2eAvailable();
  assert.equal(unavailable, undefined, unavailable);

  const tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'linea-e2e-smoke-'));
  const workspace = path.join(tmp, 'workspace');
  await fs.promises.mkdir(path.join(workspace, 'src'), { recursive: true });
  await fs.promises.writeFile(path.join(workspace, 'src', 'sample.js'), '// smoke test\n');
  let server: CodeServer | undefined;
  let browser: BrowserSession | undefined;
  try {
    const vsix = await buildVsix(tmp);
    server = await startCodeServer({ vsix, folder: workspace });
    browser = await openBrowser(server.url);
    const { page } = browser;
    await waitForWorkbench(page);
    // Activation after onStartupFinished can take many seconds: wait for its status bar item.
    assert.equal(await waitForStatusBar(page, 'E2E Ready'), 'E2E Ready');
    assert.deepEqual(await statusBarText(page, 'E2E Ready'), ['E2E Ready']);

    await openFile(page, 'src/sample.js');
    await page.keyboard.press('Control+End');
    const asked = async () =>
      Number((await statusBarText(page, 'E2E asked'))[0]?.replace('E2E asked ', '') ?? 0);
    assert.equal(await typeAndWaitForGhost(page, asked, 'const greeting = '), SUGGESTION);
    await screenshot(page, 'smoke-ghost-text');
    // Ghost text is rendered inside the line; editorText must not report it as typed.
    assert.doesNotMatch(await editorText(page), /hello from e2e/);
    await acceptGhostText(page);
    // Tab inserts the suggestion into the document (editorText leaves ghost text out).
    const text = await waitForEditorText(page, SUGGESTION);
    assert.match(text, /const greeting = hello from e2e/);
    await screenshot(page, 'smoke-accepted');

    await runCommand(page, 'E2E Smoke: Mark Status');
    assert.equal(await waitForStatusBar(page, 'E2E Command Ran', 15_000), 'E2E Command Ran');
    await screenshot(page, 'smoke-command');
  } catch (e) {
    if (browser) await screenshot(browser.page, 'smoke-failure').catch(() => undefined);
    if (server) console.error(`code-server output:\n${server.logs()}`);
    throw e;
  } finally {
    await browser?.close();
    await server?.stop();
    await fs.promises.rm(tmp, { recursive: true, force: true });
  }
});
