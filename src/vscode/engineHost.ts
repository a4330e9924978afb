// Owns the inference worker for the extension: which model is loaded, keeping the worker's copy of
// each open document in sync, and reporting state changes to the status bar.
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { discoverModels, type ModelEntry } from '../engine/runtime/manifest';
import type { RuntimeOptions } from '../engine/runtime/runtime';
import { describePlan } from '../engine/core/session';
import { dawnFlagsFromEnv, findDawnAddon, probeWebGpu } from '../engine/runtime/webgpu';
import { EngineClient } from '../worker/client';
import type {
  CompareParams,
  CompareRow,
  WireBackendReport,
  WireCompleteOptions,
  WireCompletionResult,
  WireManifest,
} from '../worker/protocol';
import { effectiveThreads, languageEnabled, type Settings } from './settings';

export type EngineStatus =
  | { kind: 'loading'; model: string }
  | {
      kind: 'ready';
      manifest: WireManifest;
      backend: string;
      report: WireBackendReport | null;
      note?: string;
    }
  | { kind: 'error'; model: string; message: string }
  | { kind: 'disabled' };

const SYNCED_SCHEMES = new Set(['file', 'untitled', 'vscode-remote', 'vscode-userdata']);

/** Recently edited files for recall: their text at most (each file at most a quarter of it). */
const RECENT_BYTES = 2 * 1024 * 1024;
const RECENT_GLOB =
  '**/*.{py,pyi,ts,tsx,mts,cts,js,jsx,mjs,cjs,go,rs,java,kt,c,h,cc,cpp,hpp,cs,rb,php,swift,scala,lua,sh}';
const RECENT_EXCLUDE = '**/{node_modules,.git,dist,build,out,.venv,venv,__pycache__}/**';

export class EngineHost implements vscode.Disposable {
  private client: EngineClient;
  private readonly synced = new Set<string>();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly statusEmitter = new vscode.EventEmitter<EngineStatus>();
  readonly onStatus = this.statusEmitter.event;
  private _status: EngineStatus = { kind: 'disabled' };
  private loading: Promise<void> = Promise.resolve();
  private loadedFolder: string | null = null;
  private cursorTimer: ReturnType<typeof setTimeout> | undefined;
  /** The crash-safe WebGPU check's verdict, once per session (null: not asked yet). */
  private gpuProbe: Promise<string | null> | null = null;
  private toldNoDawn = false;

  constructor(
    private readonly extensionPath: string,
    private settings: Settings,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.client = this.newClient();
    this.disposables.push(
      this.statusEmitter,
      vscode.workspace.onDidOpenTextDocument((d) => this.syncOpen(d)),
      vscode.workspace.onDidDeleteFiles((e) => {
        for (const uri of e.files) void this.client.forget(uri.toString()).catch(() => undefined);
      }),
      vscode.workspace.onDidCloseTextDocument((d) => this.syncClose(d)),
      vscode.workspace.onDidChangeTextDocument((e) => this.syncChange(e)),
      vscode.window.onDidChangeTextEditorSelection((e) => this.syncCursor(e.textEditor)),
    );
  }

  get status(): EngineStatus {
    return this._status;
  }

  get ready(): boolean {
    return this._status.kind === 'ready';
  }

  private newClient(): EngineClient {
    return new EngineClient({
      workerPath: path.join(this.extensionPath, 'dist', 'worker.js'),
      documents: () =>
        vscode.workspace.textDocuments
          .filter((d) => this.synced.has(d.uri.toString()))
          .map((d) => ({ uri: d.uri.toString(), text: d.getText(), languageId: d.languageId })),
      log: (m) => this.log.warn(m),
      onBackend: (report) => this.onBackend(report),
    });
  }

  /** The worker measured the backends, or WebGPU failed: show where the model runs now. */
  private onBackend(report: WireBackendReport): void {
    const s = this._status;
    if (s.kind !== 'ready') return;
    this.log.info(`backend: ${report.label}; ${describePlan(report).join('; ')}`);
    if (report.note) this.log.warn(report.note);
    this.setStatus({ ...s, backend: report.label, report, note: report.note ?? undefined });
  }

  private setStatus(s: EngineStatus): void {
    this._status = s;
    this.statusEmitter.fire(s);
  }

  modelRoots(): string[] {
    return [path.join(this.extensionPath, 'models'), ...this.settings.modelsPath];
  }

  models(): ModelEntry[] {
    return discoverModels(this.modelRoots());
  }

  /** The folder of the model the settings ask for: linea.variant (when not auto) wins over linea.model. */
  resolveFolder(): { folder?: string; wanted: string; error?: string; note?: string } {
    const models = this.models();
    const s = this.settings;
    let note: string | undefined;
    if (s.variant !== 'auto') {
      const hit = models.find((m) => m.manifest?.variant === s.variant);
      if (hit) return { folder: hit.folder, wanted: s.variant };
      // A setting never turns completions off: without such a model, linea.model serves.
      note = `no installed model has the "${s.variant}" attention variant; using ${s.model}`;
    }
    const hit = models.find(
      (m) => m.manifest?.id === s.model || path.basename(m.folder) === s.model,
    );
    if (hit?.error) return { wanted: s.model, error: hit.error };
    return hit
      ? { folder: hit.folder, wanted: s.model, note }
      : { wanted: s.model, error: `model "${s.model}" is not installed (see Linea: Switch Model)` };
  }

  /** Applies new settings: reloads the model only when the model, variant, backend or threads changed. */
  updateSettings(next: Settings): void {
    const prev = this.settings;
    this.settings = next;
    const reload =
      prev.model !== next.model ||
      prev.variant !== next.variant ||
      prev.backend !== next.backend ||
      prev.threads !== next.threads ||
      prev.memoryBudgetMB !== next.memoryBudgetMB ||
      prev.modelsPath.join('\n') !== next.modelsPath.join('\n');
    if (!next.enable) this.disable();
    else if (reload || this._status.kind === 'disabled') void this.load();
  }

  /** Linea was turned off: the worker frees the model and the documents' states. */
  private disable(): void {
    this.setStatus({ kind: 'disabled' });
    if (!this.loadedFolder) return;
    this.loadedFolder = null;
    this.synced.clear();
    this.loading = this.loading.then(() =>
      this.client.unload().then(
        () => this.log.info('model unloaded (linea.enable is off)'),
        (e: Error) => this.log.warn(`unload: ${e.message}`),
      ),
    );
  }

  /** Loads (or switches to) the configured model; failures become the error status, never a throw. */
  load(): Promise<void> {
    this.loading = this.loading.then(() => this.doLoad());
    return this.loading;
  }

  private async doLoad(): Promise<void> {
    if (!this.settings.enable) return this.setStatus({ kind: 'disabled' });
    const target = this.resolveFolder();
    if (!target.folder) {
      this.log.error(`cannot load a model: ${target.error}`);
      return this.setStatus({
        kind: 'error',
        model: target.wanted,
        message: target.error ?? 'unknown',
      });
    }
    if (target.note) {
      this.log.info(target.note);
      void vscode.window.showInformationMessage(`Linea: ${target.note}.`);
    }
    this.setStatus({ kind: 'loading', model: target.wanted });
    const runtime = this.runtime();
    let note: string | undefined;
    if (runtime.backend === 'auto' && !findDawnAddon(runtime.webgpu?.addonDirs)) {
      // The universal VSIX has no Dawn: WASM is the plan, not a failure. Said once, at info level.
      if (!this.toldNoDawn)
        this.log.info('WebGPU is not in this build (the platform VSIX has it); running on WASM');
      this.toldNoDawn = true;
      runtime.backend = 'wasm';
    }
    if (runtime.backend !== 'wasm') {
      // Dawn loads into the worker only after a child process has survived loading it.
      const why = await this.probeGpu(runtime);
      if (why) {
        runtime.backend = 'wasm';
        note = `${why}; using WASM`;
      }
    }
    try {
      const info = await this.client.load({
        folder: target.folder,
        runtime,
        engine: {
          memoryBudgetBytes: this.settings.memoryBudgetMB * 1024 * 1024,
          warmUpMs: 3000,
          recentFiles: { maxFiles: this.settings['recall.recentFiles'], maxBytes: RECENT_BYTES },
        },
      });
      this.loadedFolder = target.folder;
      this.synced.clear(); // a new engine in the worker starts without documents
      for (const d of vscode.workspace.textDocuments) await this.syncOpen(d);
      const active = vscode.window.activeTextEditor;
      if (active) this.syncCursor(active);
      this.log.info(
        `loaded ${info.manifest.id} (${info.manifest.variant}, ${(info.manifest.parameters / 1e6).toFixed(1)}M parameters) ` +
          `on ${info.backend} with ${runtime.threads} threads in ${info.loadMs.toFixed(0)} ms`,
      );
      note ??= info.report?.note ?? undefined;
      if (note) this.log.warn(note);
      this.setStatus({
        kind: 'ready',
        manifest: info.manifest,
        backend: info.backend,
        report: info.report,
        note,
      });
      void this.sendRecentFiles();
    } catch (e) {
      const message = (e as Error).message;
      this.log.error(`could not load ${target.folder}: ${message}`);
      this.loadedFolder = null;
      this.setStatus({ kind: 'error', model: target.wanted, message });
    }
  }

  get folder(): string | null {
    return this.loadedFolder;
  }

  /**
   * The workspace's most recently modified source files that are not open go to recall (closed
   * documents join them in the engine). Best effort: a file that cannot be read is skipped.
   */
  private async sendRecentFiles(): Promise<void> {
    const n = this.settings['recall.recentFiles'];
    if (!this.settings.recall || n <= 0 || !vscode.workspace.workspaceFolders?.length) return;
    try {
      const found = await vscode.workspace.findFiles(RECENT_GLOB, RECENT_EXCLUDE, 2000);
      const open = new Set(vscode.workspace.textDocuments.map((d) => d.uri.toString()));
      const stats = await Promise.all(
        found
          .filter((u) => !open.has(u.toString()))
          .map(async (uri) => {
            const st = await vscode.workspace.fs.stat(uri).then(
              (s) => s,
              () => null,
            );
            return st && st.size <= RECENT_BYTES / 4 ? { uri, mtime: st.mtime } : null;
          }),
      );
      const picked = stats
        .filter((s): s is { uri: vscode.Uri; mtime: number } => s !== null)
        .sort((a, b) => b.mtime - a.mtime)
        .slice(0, n)
        .reverse(); // the most recent last, so the engine keeps it longest
      const decoder = new TextDecoder();
      for (const { uri } of picked) {
        if (!this.ready) return;
        const text = decoder.decode(await vscode.workspace.fs.readFile(uri));
        if (text.includes('\u0000')) continue; // binary after all
        await this.client.remember(uri.toString(), text);
      }
      this.log.debug(`recall: ${picked.length} recently modified workspace files`);
    } catch (e) {
      this.log.warn(`recall: could not read recent workspace files: ${(e as Error).message}`);
    }
  }

  private wants(doc: vscode.TextDocument): boolean {
    return SYNCED_SCHEMES.has(doc.uri.scheme) && languageEnabled(this.settings, doc.languageId);
  }

  private async syncOpen(doc: vscode.TextDocument): Promise<void> {
    // (while the first model loads the worker has no engine to take documents; all are sent after)
    if (!this.loadedFolder) return;
    if (!this.ready && this._status.kind !== 'loading') return;
    const uri = doc.uri.toString();
    if (!this.wants(doc) || this.synced.has(uri)) return;
    this.synced.add(uri);
    await this.client
      .open(uri, doc.getText(), doc.languageId)
      .catch((e: Error) => this.log.warn(`open ${uri}: ${e.message}`));
  }

  private syncClose(doc: vscode.TextDocument): void {
    const uri = doc.uri.toString();
    if (!this.synced.delete(uri)) return;
    this.client.close(uri).catch((e: Error) => this.log.warn(`close ${uri}: ${e.message}`));
  }

  private syncChange(e: vscode.TextDocumentChangeEvent): void {
    const uri = e.document.uri.toString();
    if (!this.synced.has(uri) || e.contentChanges.length === 0) return;
    // Offsets refer to the text before the event: applying from the last change backwards keeps them valid.
    const edits = [...e.contentChanges]
      .sort((a, b) => b.rangeOffset - a.rangeOffset)
      .map((c) => ({ start: c.rangeOffset, end: c.rangeOffset + c.rangeLength, text: c.text }));
    this.client
      .edit(uri, edits)
      .catch((err: Error) => this.log.warn(`edit ${uri}: ${err.message}`));
  }

  private syncCursor(editor: vscode.TextEditor): void {
    const uri = editor.document.uri.toString();
    if (!this.synced.has(uri)) return;
    clearTimeout(this.cursorTimer);
    this.cursorTimer = setTimeout(() => {
      const offset = editor.document.offsetAt(editor.selection.active);
      this.client.cursor(uri, offset).catch(() => {});
    }, 150);
  }

  /** Makes sure the document is in the worker (an editor opened before the model loaded). */
  async ensureOpen(doc: vscode.TextDocument): Promise<boolean> {
    if (!this.ready || !this.wants(doc)) return false;
    await this.syncOpen(doc);
    return this.synced.has(doc.uri.toString());
  }

  complete(
    doc: vscode.TextDocument,
    offset: number,
    options: WireCompleteOptions,
    signal: AbortSignal,
  ): Promise<WireCompletionResult> {
    return this.client.complete(doc.uri.toString(), offset, options, signal);
  }

  compare(params: Omit<CompareParams, 'runtime' | 'folders'>): Promise<CompareRow[]> {
    const folders = this.models()
      .filter((m) => m.manifest)
      .map((m) => m.folder);
    // The comparison is between attention variants: all on WASM, so backends do not tilt it.
    const runtime = { ...this.runtime(), backend: 'wasm' as const };
    return this.client.compare({ ...params, folders, runtime });
  }

  /** onnxruntime-web's threads and files, and Dawn (a platform VSIX ships it in dist/webgpu). */
  private runtime(): RuntimeOptions {
    const threads = effectiveThreads(this.settings, os.cpus().length);
    const dist = path.join(this.extensionPath, 'dist');
    return {
      threads,
      wasmPaths: dist,
      backend: this.settings.backend,
      webgpu: { addonDirs: [path.join(dist, 'webgpu')], dawn: dawnFlagsFromEnv() },
    };
  }

  /** Null when WebGPU may be tried in the worker, else why not. */
  private probeGpu(runtime: RuntimeOptions): Promise<string | null> {
    this.gpuProbe ??= probeWebGpu(
      path.join(this.extensionPath, 'dist', 'worker.js'),
      runtime.webgpu!,
    )
      .then((info) => {
        this.log.info(`WebGPU adapter: ${info.description}${info.software ? ' (software)' : ''}`);
        return null;
      })
      .catch((e: Error) => `WebGPU unavailable: ${e.message}`);
    return this.gpuProbe;
  }

  dispose(): void {
    clearTimeout(this.cursorTimer);
    for (const d of this.disposables) d.dispose();
    void this.client.dispose();
  }
}
