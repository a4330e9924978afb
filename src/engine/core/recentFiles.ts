// Files recently edited in the workspace but not open: recall's least local source, after the open
// editors and the document itself. Bounded by count and by text size, least recently given out first;
// the tokens are kept as 32-bit ids (4 bytes each), counted in the engine's memory budget.
import type { RecallSource } from './recall';

export interface RecentFilesLimits {
  /** Most files kept (linea.recall.recentFiles; 0 turns the source off). */
  maxFiles: number;
  /** Most bytes of text kept over all files; a larger single file is not kept. */
  maxBytes: number;
}

export const DEFAULT_RECENT_FILES: RecentFilesLimits = { maxFiles: 20, maxBytes: 2 * 1024 * 1024 };

interface RecentFile {
  kind: string;
  ids: Int32Array;
  textBytes: number;
}

export class RecentFiles {
  /** Map order is recency: the last entry is the most recent. */
  private readonly files = new Map<string, RecentFile>();
  private textBytes = 0;

  constructor(private limits: RecentFilesLimits = DEFAULT_RECENT_FILES) {}

  setLimits(limits: RecentFilesLimits): void {
    this.limits = limits;
    this.evict();
  }

  /** Keeps (or refreshes) a file's tokens; `kind` is its file type (".ts"), matched at recall time. */
  remember(uri: string, kind: string, ids: ArrayLike<number>, textBytes: number): void {
    this.forget(uri);
    if (textBytes > this.limits.maxBytes || this.limits.maxFiles <= 0 || ids.length === 0) return;
    this.files.set(uri, { kind, ids: Int32Array.from(ids), textBytes });
    this.textBytes += textBytes;
    this.evict();
  }

  forget(uri: string): void {
    const f = this.files.get(uri);
    if (!f) return;
    this.textBytes -= f.textBytes;
    this.files.delete(uri);
  }

  has(uri: string): boolean {
    return this.files.has(uri);
  }

  get size(): number {
    return this.files.size;
  }

  /** Memory held: the token arrays. */
  get bytes(): number {
    let b = 0;
    for (const f of this.files.values()) b += f.ids.byteLength;
    return b;
  }

  /** Recall sources of one file type, most recent first, leaving out `except` (the open documents). */
  sources(kind: string, except: (uri: string) => boolean): RecallSource[] {
    const out: RecallSource[] = [];
    for (const [uri, f] of [...this.files.entries()].reverse())
      if (f.kind === kind && !except(uri)) out.push({ ids: f.ids, distance: 2 });
    return out;
  }

  clear(): void {
    this.files.clear();
    this.textBytes = 0;
  }

  private evict(): void {
    for (const uri of this.files.keys()) {
      if (this.files.size <= this.limits.maxFiles && this.textBytes <= this.limits.maxBytes) return;
      this.forget(uri);
    }
  }
}
