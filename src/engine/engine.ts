// The completion engine: documents, their recurrent states, the encoder memory, and the path from
// "text and a cursor" to "the text to suggest". Runs in plain Node (tests, CLI) and in the worker.
import { warmUp } from './runtime/warmUp';
import {
  type DraftRunner,
  generate,
  yieldToEvents,
  type Origin,
  type StopReason,
} from './core/decode';
import type { TokenEdit } from './core/documentTokens';
import { DocumentState, type PositionedState } from './core/documentState';
import { DEFAULT_TIME_BUDGET_MS } from './defaults';
import { firstLineProbability, UNSURE } from './core/confidence';
import { headerLanguage, headerText } from './core/languageHeader';
import { DEFAULT_RECENT_FILES, RecentFiles, type RecentFilesLimits } from './core/recentFiles';
import { Priority, PriorityMutex } from './core/mutex';
import { detectIndent, postprocess, type Shaped } from './core/postprocess';
import {
  DEFAULT_RECALL_OPTIONS,
  RecallMatcher,
  type RecallOptions,
  type RecallSource,
} from './core/recall';
import { GREEDY, type SamplingOptions } from './core/sampling';
import type { DecoderState, EncoderMemory, ModelSession, StepResult } from './core/session';
import { indentWidth } from './core/stops';
import type { BpeTokenizer } from './core/tokenizer';

export interface EngineOptions {
  /** K: a checkpoint every K stream tokens. */
  checkpointEvery: number;
  /** Budget for all documents' states and memories, in bytes. */
  memoryBudgetBytes: number;
  /** Most tokens a completion re-reads itself before it serves from a stale or windowed state. */
  syncReadLimit: number;
  /** Tokens of context a completion uses when no state near the cursor exists yet. */
  coldWindow: number;
  /** Longest background catch-up, in tokens (a 20 MB file is served from windows instead). */
  catchUpLimit: number;
  /** Quiet time after an edit before the encoder re-reads the file, in ms. */
  encoderDebounceMs: number;
  /** Re-read the piece at the cursor and force the first tokens to reproduce it (token healing). */
  heal: boolean;
  /** After load, run the model in the background for up to this long (ms) so that V8 has compiled
   * onnxruntime's hot WASM functions before the first completion; 0 for one-shot use (the CLI). */
  warmUpMs: number;
  /** Recall's constants (fitted on the validation split; see models/README.md). */
  recall: RecallOptions;
  /** Recently edited files kept for recall once closed or when the editor hands them over. */
  recentFiles: RecentFilesLimits;
}

/** How far (characters) the cursor may move from where the file was encoded before it is encoded again. */
const MEMORY_MOVE_CHARS = 200;

export const DEFAULT_ENGINE_OPTIONS: EngineOptions = {
  checkpointEvery: 256,
  memoryBudgetBytes: 256 * 1024 * 1024,
  syncReadLimit: 1024,
  coldWindow: 512,
  catchUpLimit: 1 << 18,
  encoderDebounceMs: 300,
  heal: true,
  warmUpMs: 0,
  recall: DEFAULT_RECALL_OPTIONS,
  recentFiles: DEFAULT_RECENT_FILES,
};

export interface CompleteOptions {
  multiline: boolean;
  maxLines: number;
  maxTokens: number;
  /** Stop generating after this many ms from the request. */
  timeBudgetMs: number;
  sampling: SamplingOptions;
  tabSize: number;
  /** Mix exact recall from the document into every step (linea.recall). */
  recall: boolean;
  /** Also recall from the other open documents of the same language (linea.recall.openEditors). */
  recallOpenEditors: boolean;
  /** And from recently edited files that are not open (linea.recall.recentFiles > 0). */
  recallRecentFiles: boolean;
  /** Verify recall's continuation in one model run (greedy decoding only; the text is the same). */
  copyDrafts: boolean;
  /**
   * Show nothing when decoding gave the suggestion's first line a lower probability. The engine
   * shows all by default (0); the editor and the CLI pass linea.minConfidence (DEFAULT_MIN_CONFIDENCE).
   */
  minConfidence: number;
}

export const DEFAULT_COMPLETE_OPTIONS: CompleteOptions = {
  multiline: false,
  maxLines: 8,
  maxTokens: 48,
  timeBudgetMs: DEFAULT_TIME_BUDGET_MS,
  sampling: GREEDY,
  tabSize: 4,
  recall: true,
  recallOpenEditors: true,
  recallRecentFiles: true,
  copyDrafts: true,
  minConfidence: 0,
};

export type StateSource = 'exact' | 'stale' | 'window';

export interface CompletionResult {
  /** The suggestion after post-processing; null when there is nothing worth showing. */
  text: string | null;
  /** Why text is null (for the debug log); null when there is a suggestion. */
  declined: string | null;
  raw: string;
  model: string;
  /** Tokens read to bring the state to the cursor (0..K for a warm document). */
  reread: number;
  source: StateSource;
  memory: 'file' | 'null' | 'none';
  stop: StopReason;
  tokens: number;
  /** Whether the tokens were the model's choices, recall's, or some of each. */
  origin: Origin;
  /** Model runs after the prompt's, and the tokens copy drafts gave without a run of their own. */
  runs: number;
  drafted: number;
  /** The probability decoding gave the first line (what minConfidence is compared with; 1 when nothing was generated). */
  confidence: number;
  /** Each generated token's log-probability (decode's `logprobs`), for evaluations. */
  logprobs: number[];
  /** prefillMs: the state at the cursor; firstTokenMs: the first suggestion character decided. */
  timings: { totalMs: number; prefillMs: number; firstTokenMs: number; stepMs: number[] };
}

export class DocumentClosedError extends Error {
  constructor(uri: string) {
    super(`document ${uri} is not open`);
    this.name = 'DocumentClosedError';
  }
}

const now = () => performance.now();

/** A document's file type for recall across editors: its extension (".ts"), or the whole name. */
function fileKind(uri: string): string {
  const name = uri.slice(uri.lastIndexOf('/') + 1);
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(dot).toLowerCase() : name;
}

function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00) {
      n += 4; // a surrogate pair: one 4-byte sequence
      i++;
    } else n += 3;
  }
  return n;
}

function binary(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

export class Engine {
  readonly options: EngineOptions;
  private readonly docs = new Map<string, DocumentState>();
  private readonly lock = new PriorityMutex();
  private readonly tokenBytes: string[];
  private readonly banned: Set<number>;
  private readonly queue: Array<() => Promise<void>> = [];
  private readonly catchUpQueued = new Set<string>();
  private readonly recent: RecentFiles;
  private pumping: Promise<void> | null = null;
  private clock = 0;
  private disposed = false;
  /** Copy drafts until an all-positions run fails once. */
  private draftsWork = true;
  /** Completions in progress, and background reads waiting for them all to end. */
  private completing = 0;
  private readonly completionWaiters: Array<() => void> = [];

  constructor(
    readonly session: ModelSession,
    readonly tokenizer: BpeTokenizer,
    options: Partial<EngineOptions> = {},
  ) {
    this.options = {
      ...DEFAULT_ENGINE_OPTIONS,
      ...options,
      recall: { ...DEFAULT_RECALL_OPTIONS, ...options.recall },
      recentFiles: { ...DEFAULT_RECENT_FILES, ...options.recentFiles },
    };
    this.recent = new RecentFiles(this.options.recentFiles);
    const vocab = session.manifest.config.vocab_size as number;
    if (tokenizer.vocabSize !== vocab) {
      throw new Error(
        `${session.manifest.id}: tokenizer has ${tokenizer.vocabSize} ids, the model ${vocab}`,
      );
    }
    this.tokenBytes = [];
    for (let i = 0; i < vocab; i++) this.tokenBytes.push(binary(tokenizer.tokenBytes(i)));
    this.banned = new Set([tokenizer.hole, tokenizer.pad]);
    if (this.options.warmUpMs > 0) {
      this.enqueue(async () => {
        // Each run takes the lock separately, so a completion waits for one run at most.
        const lock = <T>(fn: () => Promise<T>) => this.lock.with(Priority.Background, fn);
        this.warmUpResult = await warmUp(
          session,
          this.options.warmUpMs,
          500,
          lock,
          () => this.disposed,
        );
        // Where each kind of run is faster (WebGPU or WASM), timed once WASM has tiered up.
        await session.calibrate?.(lock, () => this.disposed);
      });
    }
  }

  /** Step ms before and after the background warm-up, once it has run. */
  warmUpResult: { firstMs: number; lastMs: number; runs: number } | null = null;

  get manifest() {
    return this.session.manifest;
  }

  // ---- documents -------------------------------------------------------------------------

  /** Opens a document; `languageId` (VS Code's) names its language header where the uri does not. */
  open(uri: string, text: string, languageId?: string): void {
    this.close(uri);
    this.recent.forget(uri);
    const doc = new DocumentState(this.tokenizer, text, this.lead(uri, languageId));
    doc.lastUsed = ++this.clock;
    this.docs.set(uri, doc);
  }

  /** <eos>, then the language header when the model was trained with one. */
  private lead(uri: string, languageId?: string): number[] {
    const header = headerText(this.manifest.languageHeader, headerLanguage(uri, languageId));
    return [this.tokenizer.eos, ...(header ? this.tokenizer.encode(header) : [])];
  }

  /** Applies VS Code-style edits (offsets into the text before each edit, applied in order). */
  edit(uri: string, edits: readonly TokenEdit[]): void {
    const doc = this.require(uri);
    for (const e of edits) {
      const start = Math.max(0, Math.min(e.start, doc.text.length));
      const end = Math.max(start, Math.min(e.end, doc.text.length));
      doc.applyEdit({ start, end, text: e.text });
    }
    this.scheduleEncode(uri, doc);
    this.scheduleCatchUp(uri);
  }

  /**
   * A file recently edited in the workspace that is not open: its tokens become a recall source of
   * its file type, after the open editors (bounded by options.recentFiles; larger files are skipped).
   */
  remember(uri: string, text: string): void {
    if (this.docs.has(uri)) return; // an open document is read as it stands
    const bytes = utf8Length(text);
    if (bytes > this.options.recentFiles.maxBytes || this.options.recentFiles.maxFiles <= 0) return;
    this.recent.remember(uri, fileKind(uri), this.tokenizer.encode(text), bytes);
  }

  /** Drops a recently edited file from recall (it was deleted). */
  forget(uri: string): void {
    this.recent.forget(uri);
  }

  /** The recently edited files recall holds. */
  get recentFiles(): number {
    return this.recent.size;
  }

  close(uri: string): void {
    const doc = this.docs.get(uri);
    if (!doc) return;
    // A file that was open is a recently edited one: recall keeps its tokens (not at shutdown).
    if (!this.disposed)
      this.recent.remember(uri, fileKind(uri), doc.tokens.ids, utf8Length(doc.text));
    doc.closed = true;
    clearTimeout(doc.encodeTimer);
    doc.clearStates();
    this.docs.delete(uri);
  }

  /** A hint that the cursor moved: warms the state and the memory there in the background. */
  setCursor(uri: string, offset: number): void {
    const doc = this.docs.get(uri);
    if (!doc) return;
    // The memory's copy table is the code right after the cursor where it was encoded: a cursor that moved
    // a few lines away reads another suffix (an edit re-encodes anyway, after encoderDebounceMs).
    const moved = Math.abs(offset - (doc.memory?.offset ?? -1e9)) > MEMORY_MOVE_CHARS;
    doc.cursor = Math.max(0, Math.min(offset, doc.text.length));
    doc.lastUsed = ++this.clock;
    if (moved || !doc.memory) this.scheduleEncode(uri, doc);
    this.scheduleCatchUp(uri);
  }

  documentText(uri: string): string {
    return this.require(uri).text;
  }

  // ---- completion ------------------------------------------------------------------------

  async complete(
    uri: string,
    offset: number,
    options: Partial<CompleteOptions> = {},
    cancelled: () => boolean = () => false,
  ): Promise<CompletionResult> {
    this.completing++;
    try {
      return await this.completeNow(uri, offset, options, cancelled);
    } finally {
      if (--this.completing === 0) for (const wake of this.completionWaiters.splice(0)) wake();
    }
  }

  /**
   * Resolves once no completion is in progress. Background catch-up waits here before each run: a
   * suggestion's decoding takes the lock step by step, and a catch-up run (up to prefill_chunk
   * tokens) slipping in between two steps would delay the next one by all of its length.
   */
  private async completionsDone(): Promise<void> {
    while (this.completing > 0)
      await new Promise<void>((wake) => this.completionWaiters.push(wake));
  }

  private async completeNow(
    uri: string,
    offset: number,
    options: Partial<CompleteOptions>,
    cancelled: () => boolean,
  ): Promise<CompletionResult> {
    const opts = { ...DEFAULT_COMPLETE_OPTIONS, ...options };
    const t0 = now();
    const doc = this.require(uri);
    offset = Math.max(0, Math.min(offset, doc.text.length));
    doc.cursor = offset;
    doc.lastUsed = ++this.clock;
    const prompt = this.prompt(doc, offset);
    const memory = doc.memory?.mem ?? null;
    let prep: Awaited<ReturnType<Engine['prepare']>>;
    let first: StepResult;
    try {
      prep = await this.prepare(uri, doc, prompt.base - 1, cancelled);
      first = await this.feedPrompt(doc, prompt, prep.state, memory, cancelled);
    } catch (e) {
      if (!(e instanceof CancelledError)) throw e;
      return this.cancelledResult(t0);
    }
    const prefillMs = now() - t0;
    const line = doc.text.slice(doc.text.lastIndexOf('\n', offset - 1) + 1, offset);
    const gen = await generate({
      first,
      memory,
      // Decoding feeds each state straight back in: on WebGPU it may stay in GPU buffers.
      step: (id, state, mem) =>
        this.lock.with(Priority.Completion, () =>
          this.session.run([id], state, mem, { transient: true }),
        ),
      release: (state) => this.session.releaseState?.(state),
      tokenBytes: this.tokenBytes,
      banned: this.banned,
      eos: this.tokenizer.eos,
      heal: prompt.heal,
      rules: {
        multiline: opts.multiline,
        maxLines: opts.maxLines,
        baseIndent: indentWidth(line, opts.tabSize),
        tabSize: opts.tabSize,
      },
      maxTokens: opts.maxTokens,
      deadline: t0 + opts.timeBudgetMs,
      sampling: opts.sampling,
      cancelled: () => cancelled() || doc.closed,
      now,
      recall: opts.recall ? this.recallAt(uri, doc, offset, prompt, opts) : undefined,
      draft: opts.copyDrafts ? this.draftRunner() : undefined,
    });
    const rest = doc.text.slice(offset);
    const eol = rest.indexOf('\n');
    const before = doc.text.slice(Math.max(0, offset - 2000), offset).split('\n');
    let shaped: Shaped =
      gen.stop === 'cancelled'
        ? { text: null, declined: 'cancelled' }
        : postprocess(gen.text, {
            linePrefix: before[before.length - 1],
            lineSuffix: eol < 0 ? rest : rest.slice(0, eol),
            prevLines: before.slice(-9, -1),
            nextLines: (eol < 0 ? '' : rest.slice(eol + 1)).split('\n', 8),
            indentUnit: detectIndent(doc.text.slice(Math.max(0, offset - 20000), offset + 2000)),
          });
    const confidence = firstLineProbability(gen.ids, gen.logprobs, this.tokenBytes, prompt.heal);
    if (shaped.text !== null && confidence < opts.minConfidence)
      shaped = {
        text: null,
        declined: `${UNSURE} (p ${confidence.toFixed(3)} < ${opts.minConfidence})`,
      };
    this.enforceBudget(uri);
    return {
      text: shaped.text,
      declined: shaped.declined,
      raw: gen.text,
      model: this.manifest.id,
      reread: prep.reread + 1 + prompt.extra.length,
      source: prep.source,
      memory: !this.manifest.memory ? 'none' : memory ? 'file' : 'null',
      stop: gen.stop,
      tokens: gen.ids.length,
      origin: gen.origin,
      runs: gen.runs,
      drafted: gen.drafted,
      confidence,
      logprobs: gen.logprobs,
      timings: {
        totalMs: now() - t0,
        prefillMs,
        firstTokenMs: (gen.firstTextAt ?? now()) - t0,
        stepMs: gen.stepMs,
      },
    };
  }

  /** Copy drafts through the all-positions graph, when the model has one and it has not failed. */
  private draftRunner(): DraftRunner | undefined {
    const session = this.session;
    if (!this.draftsWork || !session.canRunAll || !session.runAll) return undefined;
    const runAll = session.runAll.bind(session);
    return {
      runAll: (ids, state, mem) =>
        this.lock.with(Priority.Completion, () => runAll(ids, state, mem)),
      run: (ids, state, mem) =>
        this.lock.with(Priority.Completion, () => session.run(ids, state, mem)),
      maxChunk: this.manifest.limits.max_chunk,
      minOrder: this.options.recall.draftMinOrder,
      onError: (e) => {
        this.draftsWork = false;
        console.error('linea: copy drafts off:', e);
      },
    };
  }

  private cancelledResult(t0: number): CompletionResult {
    const ms = now() - t0;
    return {
      text: null,
      declined: 'cancelled',
      raw: '',
      model: this.manifest.id,
      reread: 0,
      source: 'exact',
      memory: 'none',
      stop: 'cancelled',
      tokens: 0,
      origin: 'model',
      runs: 0,
      drafted: 0,
      confidence: 1,
      logprobs: [],
      timings: { totalMs: ms, prefillMs: ms, firstTokenMs: ms, stepMs: [] },
    };
  }

  /**
   * Recall at a cursor: the document's tokens (never the cursor's own line from the healed piece on,
   * which would predict itself), then the other open documents of the same file type, most recently
   * used first. The context is the stable tokens before the healed piece (and the piece when it is fed).
   */
  private recallAt(
    uri: string,
    doc: DocumentState,
    offset: number,
    prompt: { base: number; extra: number[]; heal: string },
    opts: CompleteOptions,
  ): RecallMatcher {
    const toks = doc.tokens;
    const first = prompt.base - doc.lead.length;
    const eol = doc.text.indexOf('\n', offset);
    const lineEnd = eol < 0 ? toks.length : toks.tokensBefore(eol) + 1;
    const sources: RecallSource[] = [{ ids: toks.ids, skipFrom: first, skipTo: lineEnd }];
    if (opts.recallOpenEditors) {
      const kind = fileKind(uri);
      const others = [...this.docs.entries()]
        .filter(([u, d]) => u !== uri && !d.closed && fileKind(u) === kind)
        .sort((a, b) => b[1].lastUsed - a[1].lastUsed);
      for (const [, d] of others) sources.push({ ids: d.tokens.ids, distance: 1 });
    }
    if (opts.recallRecentFiles)
      sources.push(...this.recent.sources(fileKind(uri), (u) => this.docs.has(u)));
    const o = this.options.recall;
    const context = [...toks.ids.slice(Math.max(0, first - o.maxOrder), first), ...prompt.extra];
    const heal = { bytes: prompt.heal, tokenBytes: this.tokenBytes };
    return new RecallMatcher(sources, context, o, heal);
  }

  /** Next-token logits at the cursor through the same state path as complete() (for parity tests). */
  async nextLogits(
    uri: string,
    offset: number,
  ): Promise<{ logits: Float32Array; source: StateSource }> {
    const doc = this.require(uri);
    const prompt = this.prompt(doc, Math.max(0, Math.min(offset, doc.text.length)), false);
    const prep = await this.prepare(uri, doc, prompt.base - 1, () => false);
    const r = await this.feedPrompt(doc, prompt, prep.state, doc.memory?.mem ?? null, () => false);
    return { logits: r.logits, source: prep.source };
  }

  /** Feeds the last stable token and any un-healed tail after the state; returns the next-token logits. */
  private async feedPrompt(
    doc: DocumentState,
    prompt: { base: number; extra: number[] },
    state: DecoderState,
    memory: EncoderMemory | null,
    cancelled: () => boolean,
  ): Promise<StepResult> {
    const ids = [doc.streamAt(prompt.base - 1), ...prompt.extra];
    const max = this.manifest.limits.max_chunk;
    let r: StepResult | null = null;
    for (let i = 0; i < ids.length; i += max) {
      if (cancelled() || doc.closed) throw new CancelledError();
      const chunk = ids.slice(i, i + max);
      const from: DecoderState = r?.state ?? state;
      r = await this.lock.with(Priority.Completion, (): Promise<StepResult> =>
        this.session.run(chunk, from, memory),
      );
    }
    return r!;
  }

  /**
   * The prompt at a cursor: `base` stream tokens are stable; the text of the piece the cursor ends
   * (which the next keystroke may merge into) is healed, or fed as `extra` tokens when too long.
   */
  private prompt(doc: DocumentState, offset: number, heal = this.options.heal) {
    const toks = doc.tokens;
    if (offset === 0) return { base: doc.lead.length, heal: '', extra: [] as number[] };
    const first = toks.tokensBefore(offset - 1);
    const start = toks.tokenOffset(first);
    const piece = doc.text.slice(start, offset);
    const base = doc.lead.length + first;
    const bytes = binary(new TextEncoder().encode(piece));
    if (heal && bytes.length <= 64) return { base, heal: bytes, extra: [] as number[] };
    return { base, heal: '', extra: this.tokenizer.encode(piece) };
  }

  /** The state after `target` stream tokens: exact when close enough, else stale or windowed. */
  private async prepare(
    uri: string,
    doc: DocumentState,
    target: number,
    cancelled: () => boolean,
  ): Promise<{ state: DecoderState; source: StateSource; reread: number }> {
    const limit = this.options.syncReadLimit;
    const exact: PositionedState = doc.bestAtMost(target) ?? {
      pos: 0,
      state: this.session.initState(),
    };
    if (target - exact.pos <= limit) {
      const state = await this.advance(doc, exact, target, Priority.Completion, true, cancelled);
      return { state, source: 'exact', reread: target - exact.pos };
    }
    this.scheduleCatchUp(uri);
    const stale = doc.stale;
    if (stale && stale.pos <= target && target - stale.pos <= limit) {
      const state = await this.advance(doc, stale, target, Priority.Completion, false, cancelled);
      return { state, source: 'stale', reread: target - stale.pos };
    }
    // Nothing near: read the last coldWindow tokens after a fresh start, as if the file began there.
    const from = Math.max(doc.lead.length, target - this.options.coldWindow);
    // The lead (<eos>, header) first: the window reads as a file that begins there.
    const lead = await this.advance(
      doc,
      { pos: 0, state: this.session.initState() },
      doc.lead.length,
      Priority.Completion,
      false,
      cancelled,
    );
    const state = await this.advance(
      doc,
      { pos: from, state: lead },
      target,
      Priority.Completion,
      false,
      cancelled,
    );
    return { state, source: 'window', reread: target - from + 1 };
  }

  /**
   * Feeds stream tokens [from.pos, target) in chunks that end on checkpoint boundaries when `save`,
   * saving the checkpoints (and the final state) if the document did not change meanwhile. Where the
   * model has a prefill graph, each full prefill_chunk before the next stop is one run of it.
   */
  private async advance(
    doc: DocumentState,
    from: PositionedState,
    target: number,
    priority: Priority,
    save: boolean,
    cancelled: () => boolean,
  ): Promise<DecoderState> {
    const k = this.options.checkpointEvery;
    const { max_chunk: maxChunk, prefill_chunk: prefill = Infinity } = this.manifest.limits;
    let { pos, state } = from;
    const version = doc.version;
    while (pos < target) {
      await yieldToEvents();
      if (priority === Priority.Background) await this.completionsDone();
      if (cancelled() || doc.closed) throw new CancelledError();
      // (a read that saves nothing need not stop at checkpoints: fewer, longer runs)
      const stop = save ? Math.min(target, (Math.floor(pos / k) + 1) * k) : target;
      const end = stop - pos >= prefill ? pos + prefill : Math.min(stop, pos + maxChunk);
      const ids = doc.streamSlice(pos, end);
      const memory = doc.memory?.mem ?? null;
      const r: StepResult = await this.lock.with(priority, () =>
        this.session.run(ids, state, memory),
      );
      if (doc.version !== version) save = false; // an edit landed meanwhile: these states may be wrong
      state = r.state;
      pos = end;
      if (save && (pos % k === 0 || pos === target)) doc.put(pos, state);
    }
    return state;
  }

  // ---- background work -------------------------------------------------------------------

  private scheduleCatchUp(uri: string): void {
    if (this.catchUpQueued.has(uri)) return;
    this.catchUpQueued.add(uri);
    this.enqueue(async () => {
      this.catchUpQueued.delete(uri);
      const doc = this.docs.get(uri);
      if (!doc) return;
      const target = Math.max(0, this.prompt(doc, doc.cursor).base - 1);
      const best = doc.bestAtMost(target) ?? { pos: 0, state: this.session.initState() };
      if (target - best.pos > this.options.catchUpLimit || target === best.pos) {
        if (target === best.pos) doc.stale = null;
        return;
      }
      const version = doc.version;
      try {
        await this.advance(doc, best, target, Priority.Background, true, () => this.disposed);
      } catch (e) {
        if (!(e instanceof CancelledError)) throw e;
        return;
      }
      if (doc.version === version) doc.stale = null;
      else this.scheduleCatchUp(uri);
      this.enforceBudget(uri);
    });
  }

  private scheduleEncode(uri: string, doc: DocumentState): void {
    if (!this.manifest.memory) return;
    clearTimeout(doc.encodeTimer);
    doc.encodeTimer = setTimeout(
      () =>
        this.enqueue(async () => {
          await this.encodeNow(uri);
        }),
      this.options.encoderDebounceMs,
    );
    doc.encodeTimer.unref?.();
  }

  /** Runs the encoder on the file around the cursor, the cursor's piece and after replaced by <hole>. */
  async encodeNow(uri: string): Promise<EncoderMemory | null> {
    const doc = this.docs.get(uri);
    if (!doc || !this.manifest.memory) return null;
    const version = doc.version;
    const offset = doc.cursor;
    const budget = this.manifest.limits.max_encoder_tokens;
    const toks = doc.tokens;
    const before = offset === 0 ? 0 : toks.tokensBefore(offset - 1);
    let after = toks.tokensBefore(offset);
    while (after < toks.length && toks.tokenOffset(after) < offset) after++;
    const nAfter = Math.min(toks.length - after, Math.floor((budget - 1) / 2));
    const nBefore = Math.min(before, budget - 1 - nAfter);
    const ids = [
      ...toks.ids.slice(before - nBefore, before),
      this.tokenizer.hole,
      ...toks.ids.slice(after, after + nAfter),
    ];
    const mem = await this.lock.with(Priority.Encoder, () => this.session.encode(ids));
    if (mem && !doc.closed && doc.version === version) doc.memory = { mem, version, offset };
    return mem;
  }

  private enqueue(job: () => Promise<void>): void {
    if (this.disposed) return;
    this.queue.push(job);
    this.pumping ??= this.pump();
  }

  private async pump(): Promise<void> {
    while (this.queue.length > 0 && !this.disposed) {
      const job = this.queue.shift()!;
      try {
        await job();
      } catch (e) {
        this.onBackgroundError(e);
      }
    }
    this.pumping = null;
  }

  onBackgroundError: (e: unknown) => void = (e) =>
    console.error('linea: background job failed:', e);

  /** Resolves when no background work (catch-up, encoder) is queued or running. */
  async idle(): Promise<void> {
    while (this.pumping) await this.pumping;
  }

  /** Runs any debounced encoder work at once (CLI, tests), around `offset` when given. */
  async flushEncoder(uri: string, offset?: number): Promise<void> {
    const doc = this.docs.get(uri);
    if (!doc) return;
    if (offset !== undefined) doc.cursor = Math.max(0, Math.min(offset, doc.text.length));
    clearTimeout(doc.encodeTimer);
    await this.encodeNow(uri);
  }

  // ---- memory ----------------------------------------------------------------------------

  stats(): { documents: number; stateBytes: number; budgetBytes: number; checkpoints: number } {
    let bytes = 0;
    let checkpoints = 0;
    for (const d of this.docs.values()) {
      bytes += d.bytes;
      checkpoints += d.positions.length;
    }
    return {
      documents: this.docs.size,
      stateBytes: bytes,
      budgetBytes: this.options.memoryBudgetBytes,
      checkpoints,
    };
  }

  documentStats(uri: string): {
    tokens: number;
    checkpoints: number;
    bytes: number;
    stale: boolean;
  } {
    const d = this.require(uri);
    return {
      tokens: d.tokens.length,
      checkpoints: d.positions.length,
      bytes: d.bytes,
      stale: d.stale !== null,
    };
  }

  /** Least recently used documents lose their states first; the active one thins its checkpoints last. */
  private enforceBudget(activeUri: string): void {
    const budget = this.options.memoryBudgetBytes;
    let total = this.stats().stateBytes + this.recent.bytes;
    if (total <= budget) return;
    const byAge = [...this.docs.entries()].sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    for (const [uri, doc] of byAge) {
      if (total <= budget) return;
      if (uri === activeUri) continue;
      total -= doc.bytes;
      doc.clearStates();
    }
    const active = this.docs.get(activeUri);
    if (!active) return;
    const cursorPos = this.prompt(active, active.cursor).base - 1;
    while (total > budget && active.dropFarthest(cursorPos))
      total = this.stats().stateBytes + this.recent.bytes;
  }

  private require(uri: string): DocumentState {
    const doc = this.docs.get(uri);
    if (!doc) throw new DocumentClosedError(uri);
    return doc;
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    for (const uri of [...this.docs.keys()]) this.close(uri);
    this.recent.clear();
    this.queue.length = 0;
    await this.pumping;
    await this.session.release();
  }
}

export class CancelledError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'CancelledError';
  }
}
