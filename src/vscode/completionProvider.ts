// The inline completion pipeline (llama.vscode's order): gate -> typed-through cache -> adaptive
// debounce -> engine (cancelled with VS Code's token) -> item, with local statistics.
import * as vscode from 'vscode';
import type { WireCompletionResult } from '../worker/protocol';
import { UNSURE } from '../engine/core/confidence';
import { autoClosedSpan } from '../engine/core/postprocess';
import {
  confidenceFloor,
  debounceDelay,
  shouldComplete,
  typeThrough,
  type CachedSuggestion,
} from './gating';
import { median } from '../engine/numbers';
import type { CompletionStats, SuggestionOrigin } from './stats';
import type { EngineHost } from './engineHost';
import { languageEnabled, type Settings } from './settings';

export const ACCEPTED_COMMAND = 'linea._accepted';

function sleep(ms: number, token: vscode.CancellationToken): Promise<boolean> {
  return new Promise((resolve) => {
    if (ms <= 0) return resolve(!token.isCancellationRequested);
    const timer = setTimeout(() => {
      sub.dispose();
      resolve(!token.isCancellationRequested);
    }, ms);
    const sub = token.onCancellationRequested(() => {
      clearTimeout(timer);
      sub.dispose();
      resolve(false);
    });
  });
}

export class LineaCompletionProvider implements vscode.InlineCompletionItemProvider {
  private cache: CachedSuggestion | null = null;
  private readonly lastKey = new Map<string, number>();
  private readonly intervals: number[] = [];

  constructor(
    private readonly host: EngineHost,
    private readonly settings: () => Settings,
    private readonly stats: CompletionStats,
    private readonly log: vscode.LogOutputChannel,
    private readonly onResult: (r: WireCompletionResult) => void,
  ) {}

  /** Called on every document change: the typing speed drives the debounce. */
  noteKeystroke(uri: string): void {
    const now = Date.now();
    const last = this.lastKey.get(uri);
    this.lastKey.set(uri, now);
    if (last !== undefined && now - last < 2000) {
      this.intervals.push(now - last);
      if (this.intervals.length > 20) this.intervals.shift();
    }
  }

  async provideInlineCompletionItems(
    doc: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionItem[] | undefined> {
    const s = this.settings();
    // Every gate that declines says why at debug level: "why no suggestion?" is read from the log.
    const at = `${position.line + 1}:${position.character + 1}`;
    const decline = (why: string) => {
      this.log.debug(`no request at ${at}: ${why}`);
      return undefined;
    };
    if (!languageEnabled(s, doc.languageId))
      return decline(`completions are off for ${doc.languageId}`);
    if (!this.host.ready) return decline(`the model is not ready (${this.host.status.kind})`);
    const explicit = context.triggerKind === vscode.InlineCompletionTriggerKind.Invoke;
    const line = doc.lineAt(position.line).text;
    if (!shouldComplete(line, position.character, explicit))
      return decline('the cursor is inside a word');
    const uri = doc.uri.toString();
    const key = `${position.line}:${line.slice(0, position.character)}`;

    // The user is typing what we suggested: show the rest without asking the model again.
    const rest = this.cache ? typeThrough(this.cache, uri, key) : null;
    if (rest !== null) return [this.item(rest, position, line, this.cache!.origin)];

    const delay = debounceDelay({
      baseMs: s.debounceMs,
      engineMs: this.stats.medianLatency(),
      keystrokeMs: this.intervals.length ? median(this.intervals) : NaN,
    });
    if (!(await sleep(delay, token))) return decline(`cancelled during the ${delay} ms debounce`);
    if (!(await this.host.ensureOpen(doc))) return decline('the document is not synced');
    if (token.isCancellationRequested) return decline('cancelled');
    this.log.debug(`request at ${at} after ${delay} ms debounce`);

    const abort = new AbortController();
    const sub = token.onCancellationRequested(() => abort.abort());
    this.stats.request();
    try {
      const r = await this.host.complete(
        doc,
        doc.offsetAt(position),
        {
          multiline: s.multiline,
          maxLines: s.maxLines,
          maxTokens: s.maxTokens,
          timeBudgetMs: s.timeBudgetMs,
          tabSize: this.tabSize(doc),
          recall: s.recall,
          recallOpenEditors: s['recall.openEditors'],
          recallRecentFiles: s['recall.recentFiles'] > 0,
          minConfidence: confidenceFloor(s.minConfidence, explicit),
        },
        abort.signal,
      );
      this.log.debug(
        `answer in ${r.timings.totalMs.toFixed(0)} ms: stop=${r.stop}, ${r.tokens} tokens, ${r.text === null ? `nothing to show: ${r.declined ?? 'no reason given'}` : JSON.stringify(r.text)}${token.isCancellationRequested ? ' (cancelled meanwhile)' : ''}`,
      );
      if (token.isCancellationRequested || r.stop === 'cancelled') return undefined;
      this.onResult(r);
      if (r.declined?.startsWith(UNSURE)) this.stats.heldBack();
      if (!r.text) return undefined;
      this.stats.shown(r.timings.totalMs, r.origin);
      this.cache = { uri, prefix: key, suggestion: r.text, origin: r.origin };
      return [this.item(r.text, position, line, r.origin)];
    } catch (e) {
      const err = e as Error;
      if (err.name !== 'CancelledError') this.log.warn(`completion failed: ${err.message}`);
      return undefined;
    } finally {
      sub.dispose();
    }
  }

  /** The item replaces the auto-closed brackets and quotes after the cursor that the text writes itself. */
  private item(
    text: string,
    at: vscode.Position,
    line: string,
    origin: SuggestionOrigin,
  ): vscode.InlineCompletionItem {
    const covered = autoClosedSpan(text, line.slice(at.character));
    const range = new vscode.Range(at, at.translate(0, covered));
    return new vscode.InlineCompletionItem(text, range, {
      command: ACCEPTED_COMMAND,
      title: 'Linea: accepted',
      arguments: [origin],
    });
  }

  private tabSize(doc: vscode.TextDocument): number {
    const editor = vscode.window.visibleTextEditors.find((e) => e.document === doc);
    const t = editor?.options.tabSize;
    return typeof t === 'number' ? t : 4;
  }
}
