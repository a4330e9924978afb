// The caller's side of the inference worker: typed requests, cancellation, and recovery when the
// worker dies (it is restarted, the model and documents are restored, in-flight requests retried once).
import { Worker } from 'node:worker_threads';
import { prepareDawnEnv } from '../engine/runtime/webgpu';
import type {
  CompareParams,
  Envelope,
  LoadParams,
  ModelInfo,
  Reply,
  Request,
  Response,
  Kind,
  WireBackendReport,
  WireCompleteOptions,
  WireCompletionResult,
  WireTokenEdit,
  WorkerEvent,
} from './protocol';

export interface OpenDocument {
  uri: string;
  text: string;
  languageId?: string;
  cursor?: number;
}

export interface ClientOptions {
  /** Path of the bundled worker script (dist/worker.js, or out/src/worker/inferenceWorker.js in tests). */
  workerPath: string;
  /** Current documents, re-sent to a restarted worker. */
  documents: () => OpenDocument[];
  log?: (message: string) => void;
  /** The worker moved the model to other backends (after measuring, or because WebGPU failed). */
  onBackend?: (report: WireBackendReport) => void;
}

interface Pending {
  request: Request;
  resolve: (value: unknown) => void;
  reject: (e: Error) => void;
  retried: boolean;
}

export class WorkerError extends Error {
  constructor(message: string, name = 'WorkerError') {
    super(message);
    this.name = name;
  }
}

export class EngineClient {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private lastLoad: LoadParams | null = null;
  private restarts = 0;
  private disposed = false;
  private starting: Promise<void> | null = null;

  constructor(private readonly options: ClientOptions) {}

  get restartCount(): number {
    return this.restarts;
  }

  async load(params: LoadParams): Promise<ModelInfo> {
    prepareDawnEnv(params.runtime.webgpu?.dawn);
    const info = await this.call({ kind: 'load', params });
    this.lastLoad = params;
    return info;
  }

  open(uri: string, text: string, languageId?: string): Promise<null> {
    return this.call({ kind: 'open', uri, text, languageId });
  }

  edit(uri: string, edits: WireTokenEdit[]): Promise<null> {
    return this.call({ kind: 'edit', uri, edits });
  }

  close(uri: string): Promise<null> {
    return this.call({ kind: 'close', uri });
  }

  /** A recently edited file that is not open, for recall (the engine bounds how many it keeps). */
  remember(uri: string, text: string): Promise<null> {
    return this.call({ kind: 'remember', uri, text });
  }

  /** The file was deleted: recall forgets it. */
  forget(uri: string): Promise<null> {
    return this.call({ kind: 'forget', uri });
  }

  cursor(uri: string, offset: number): Promise<null> {
    return this.call({ kind: 'cursor', uri, offset });
  }

  /** Encodes the file context now (around `offset` when given) instead of after the debounce. */
  encode(uri: string, offset?: number): Promise<null> {
    return this.call({ kind: 'encode', uri, offset });
  }

  idle(): Promise<null> {
    return this.call({ kind: 'idle' });
  }

  stats(): Promise<Response<'stats'>> {
    return this.call({ kind: 'stats' });
  }

  compare(params: CompareParams): Promise<Response<'compare'>> {
    return this.call({ kind: 'compare', params });
  }

  /** Frees the model and every document in the worker (Linea was turned off); load() starts again. */
  async unload(): Promise<null> {
    this.lastLoad = null; // a restarted worker must not load it back
    return this.call({ kind: 'unload' });
  }

  /** For tests: makes the worker exit as a crash would (the production bundle refuses it). */
  crashForTest(): Promise<null> {
    return this.call({ kind: 'crash' });
  }

  /** A completion; an aborted signal cancels it in the worker at the next token. */
  async complete(
    uri: string,
    offset: number,
    options: WireCompleteOptions,
    signal?: AbortSignal,
  ): Promise<WireCompletionResult> {
    const request: Request<'complete'> = { kind: 'complete', uri, offset, options };
    const { id, promise } = this.send(request);
    const onAbort = () => this.post({ id: this.nextId++, kind: 'cancel', target: id });
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return (await promise) as Response<'complete'>;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    const w = this.worker;
    this.worker = null;
    for (const p of this.pending.values())
      p.reject(new WorkerError('engine stopped', 'CancelledError'));
    this.pending.clear();
    await w?.terminate();
  }

  /** The request's kind picks its response type (protocol.ts's Messages table). */
  private call<K extends Kind>(request: Request<K>): Promise<Response<K>> {
    return this.send(request as Request).promise as Promise<Response<K>>;
  }

  private send(request: Request): { id: number; promise: Promise<unknown> } {
    const id = this.nextId++;
    const promise = new Promise<unknown>((resolve, reject) => {
      if (this.disposed) return reject(new WorkerError('engine stopped'));
      this.pending.set(id, { request, resolve, reject, retried: false });
      this.post({ id, ...request });
      this.worker?.ref(); // keep the process alive while an answer is owed
    });
    return { id, promise };
  }

  private post(msg: Envelope): void {
    this.ensureWorker().postMessage(msg);
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(this.options.workerPath);
    w.on('message', (reply: Reply | WorkerEvent) => this.onReply(reply));
    w.on('error', (e) => this.options.log?.(`inference worker error: ${e.message}`));
    w.on('exit', (code) => this.onExit(w, code));
    w.unref();
    this.worker = w;
    return w;
  }

  private onReply(reply: Reply | WorkerEvent): void {
    if ('event' in reply) {
      this.options.onBackend?.(reply.report);
      return;
    }
    const p = this.pending.get(reply.id);
    if (!p) return;
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.worker?.unref(); // an idle worker must not hold the process open
    if (reply.ok) p.resolve(reply.value);
    else p.reject(new WorkerError(reply.error.message, reply.error.name));
  }

  /** The worker died: start a new one, restore the model and documents, retry each request once. */
  private onExit(w: Worker, code: number): void {
    if (this.worker !== w) return; // an older worker we replaced or terminated
    this.worker = null;
    if (this.disposed) return;
    this.restarts++;
    this.options.log?.(`inference worker exited (code ${code}); restarting`);
    const inflight = [...this.pending.entries()];
    this.pending.clear();
    const restore = async () => {
      if (this.lastLoad) await this.send({ kind: 'load', params: this.lastLoad }).promise;
      for (const d of this.options.documents()) {
        await this.send({ kind: 'open', uri: d.uri, text: d.text, languageId: d.languageId })
          .promise;
        if (d.cursor !== undefined)
          await this.send({ kind: 'cursor', uri: d.uri, offset: d.cursor }).promise;
      }
    };
    this.starting = restore()
      .catch((e: Error) => this.options.log?.(`could not restore the worker: ${e.message}`))
      .finally(() => (this.starting = null));
    for (const [, p] of inflight) {
      // Requests that mutate documents were replayed by restore(); others are retried once.
      const replayed = ['open', 'edit', 'close', 'cursor', 'load', 'cancel'].includes(
        p.request.kind,
      );
      if (replayed && p.request.kind !== 'load') {
        p.resolve(null);
        continue;
      }
      if (p.retried || p.request.kind === 'crash') {
        p.reject(
          new WorkerError(`the inference worker crashed (exit code ${code})`, 'WorkerCrashed'),
        );
        continue;
      }
      const retry = async () => {
        await this.starting;
        const again = this.send(p.request);
        this.pending.get(again.id)!.retried = true;
        return again.promise;
      };
      retry().then(p.resolve, p.reject);
    }
  }
}
