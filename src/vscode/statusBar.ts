// The status bar item: model, variant, backend and last latency; a warning with the reason when the
// model could not load (click opens the log).
import * as vscode from 'vscode';
import { describePlan } from '../engine/core/session';
import type { EngineStatus } from './engineHost';

export class LineaStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem(
    'linea.status',
    vscode.StatusBarAlignment.Right,
    100,
  );
  private lastMs: number | null = null;
  private status: EngineStatus = { kind: 'disabled' };

  constructor() {
    this.item.name = 'Linea';
    this.render();
    this.item.show();
  }

  setStatus(s: EngineStatus): void {
    this.status = s;
    this.render();
  }

  setLatency(ms: number): void {
    this.lastMs = ms;
    this.render();
  }

  private render(): void {
    const s = this.status;
    const it = this.item;
    it.backgroundColor = undefined;
    it.command = 'linea.switchModel';
    switch (s.kind) {
      case 'disabled':
        it.text = '$(circle-slash) Linea';
        it.tooltip = 'Linea completions are off (Linea: Toggle Completions)';
        it.command = 'linea.toggle';
        break;
      case 'loading':
        it.text = `$(loading~spin) Linea: ${s.model}`;
        it.tooltip = `Loading ${s.model}…`;
        break;
      case 'ready': {
        const ms = this.lastMs === null ? '' : ` · ${this.lastMs.toFixed(0)} ms`;
        it.text = `$(sparkle) Linea: ${s.manifest.variant} · ${s.backend}${ms}`;
        const plan = s.report ? describePlan(s.report).map((l) => `- ${l}`) : [];
        const md = new vscode.MarkdownString(
          `**${s.manifest.id}** — ${s.manifest.variant} attention, ${(s.manifest.parameters / 1e6).toFixed(1)}M parameters, ${s.backend}` +
            (plan.length ? `\n\n${plan.join('\n')}` : '') +
            (s.note ? `\n\n$(info) ${s.note}` : '') +
            '\n\nClick to switch model.',
          true,
        );
        it.tooltip = md;
        break;
      }
      case 'error':
        it.text = '$(warning) Linea';
        it.tooltip = new vscode.MarkdownString(
          `**Linea could not load ${s.model}**\n\n${s.message}\n\nClick to open the log.`,
          true,
        );
        it.backgroundColor = new vscode.ThemeColor('statusBarItem.warningBackground');
        it.command = 'linea.showLog';
        break;
    }
  }

  dispose(): void {
    this.item.dispose();
  }
}
