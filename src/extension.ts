// Linea's entry point: builds the components, registers them, and nothing else.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { CompletionStats, type StatsSnapshot } from './vscode/stats';
import { registerCommands } from './vscode/commands';
import { CompareView } from './vscode/compareView';
import { LineaCompletionProvider } from './vscode/completionProvider';
import { EngineHost } from './vscode/engineHost';
import { installNetworkGuard } from './engine/runtime/networkGuard';
import { normalise, type Settings } from './vscode/settings';
import { LineaStatusBar } from './vscode/statusBar';

function readSettings(log: vscode.LogOutputChannel): Settings {
  const cfg = vscode.workspace.getConfiguration('linea');
  const { settings, problems } = normalise((key) => cfg.get(key));
  for (const p of problems) log.warn(`settings: ${p}`);
  return settings;
}

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('Linea', { log: true });
  context.subscriptions.push(log);
  try {
    if (process.env.LINEA_NETWORK_GUARD === '1') {
      installNetworkGuard(path.join(context.extensionPath, 'dist'), (what) =>
        log.error(`offline guard blocked ${what}`),
      );
      log.info('offline guard active: any network call from Linea throws');
    }
    let settings = readSettings(log);
    const stats = new CompletionStats(context.globalState.get<StatsSnapshot>('linea.stats'));
    const persistStats = () => void context.globalState.update('linea.stats', stats.snapshot());
    const host = new EngineHost(context.extensionPath, settings, log);
    const status = new LineaStatusBar();
    const compare = new CompareView(context.extensionUri, host, log);
    const provider = new LineaCompletionProvider(
      host,
      () => settings,
      stats,
      log,
      (r) => {
        status.setLatency(r.timings.totalMs);
        persistStats();
      },
    );
    context.subscriptions.push(
      host,
      status,
      compare,
      host.onStatus((s) => status.setStatus(s)),
      vscode.languages.registerInlineCompletionItemProvider({ pattern: '**' }, provider),
      vscode.workspace.onDidChangeTextDocument((e) =>
        provider.noteKeystroke(e.document.uri.toString()),
      ),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (!e.affectsConfiguration('linea')) return;
        settings = readSettings(log);
        host.updateSettings(settings);
      }),
    );
    registerCommands(context, host, stats, compare, log, persistStats);
    void host.load();
  } catch (e) {
    const message = (e as Error).message;
    log.error(`activation failed: ${message}`);
    void vscode.window
      .showErrorMessage(`Linea could not start: ${message}`, 'Show Log')
      .then((c) => c && log.show());
  }
}

export function deactivate(): void {}
