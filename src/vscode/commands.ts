// The command palette entries (category "Linea"). Each command is a thin call into a component.
import * as vscode from 'vscode';
import type { CompletionStats, SuggestionOrigin } from './stats';
import type { CompareView } from './compareView';
import type { EngineHost } from './engineHost';

interface ModelPick extends vscode.QuickPickItem {
  id: string;
}

function metric(m: Record<string, unknown>, key: string, digits: number): string | null {
  const v = m[key];
  return typeof v === 'number' ? v.toFixed(digits) : null;
}

async function switchModel(host: EngineHost): Promise<void> {
  const current = host.status.kind === 'ready' ? host.status.manifest.id : null;
  // Only the loaded model has a backend to name; it reads as the status bar does ("WASM", "WebGPU").
  const backend = host.status.kind === 'ready' ? host.status.backend : null;
  const picks: ModelPick[] = host.models().map((m) => {
    if (!m.manifest)
      return { id: '', label: `$(error) ${m.folder}`, detail: m.error, description: 'cannot load' };
    const man = m.manifest;
    const bpb = metric(man.metrics, 'val_bpb', 3);
    const em = metric(man.metrics, 'line_exact_match', 1);
    const es = metric(man.metrics, 'line_edit_similarity', 1);
    const bytes = man.state_bytes.per_token
      ? `${(man.state_bytes.per_token / 1024).toFixed(1)} KiB state per token`
      : `${(man.state_bytes.fixed / 1024).toFixed(0)} KiB state per document`;
    return {
      id: man.id,
      label: `${man.id === current ? '$(check) ' : ''}${man.id}`,
      description: [
        man.variant,
        `${(man.parameters / 1e6).toFixed(1)}M params`,
        man.id === current ? backend : null,
      ]
        .filter(Boolean)
        .join(' · '),
      detail: [bpb && `${bpb} bits/byte`, em && `line EM ${em}`, es && `edit sim ${es}`, bytes]
        .filter(Boolean)
        .join(' · '),
    };
  });
  const pick = await vscode.window.showQuickPick(picks, {
    title: 'Linea: Switch Model',
    placeHolder:
      'Shipped models and those in linea.modelsPath (the attention-variant setting is reset to auto)',
    matchOnDescription: true,
    matchOnDetail: true,
  });
  if (!pick || !pick.id) return;
  const cfg = vscode.workspace.getConfiguration('linea');
  await cfg.update('variant', 'auto', vscode.ConfigurationTarget.Global);
  await cfg.update('model', pick.id, vscode.ConfigurationTarget.Global);
}

export function registerCommands(
  context: vscode.ExtensionContext,
  host: EngineHost,
  stats: CompletionStats,
  compare: CompareView,
  log: vscode.LogOutputChannel,
  persistStats: () => void,
): void {
  const reg = (id: string, fn: (...args: never[]) => unknown) =>
    context.subscriptions.push(vscode.commands.registerCommand(id, fn));
  reg('linea.switchModel', () => switchModel(host));
  reg('linea.compareVariants', () => compare.show());
  reg('linea.toggle', async () => {
    const cfg = vscode.workspace.getConfiguration('linea');
    const next = !cfg.get<boolean>('enable', true);
    await cfg.update('enable', next, vscode.ConfigurationTarget.Global);
    void vscode.window.setStatusBarMessage(`Linea completions ${next ? 'on' : 'off'}`, 3000);
  });
  reg('linea.showLog', () => log.show(true));
  reg('linea.showStatistics', () =>
    vscode.window.showInformationMessage('Linea statistics', {
      modal: true,
      detail: stats.summary(),
    }),
  );
  reg('linea._accepted', (origin?: SuggestionOrigin) => {
    stats.accepted(origin);
    persistStats();
  });
}
