// Messages between the engine client (extension host, CLI) and the inference worker.
import type { TokenEdit } from '../engine/core/documentTokens';
import type { CompleteOptions, CompletionResult, EngineOptions } from '../engine/engine';
import type { Manifest } from '../engine/runtime/manifest';
import type { RuntimeOptions } from '../engine/runtime/runtime';
import type { BackendReport } from '../engine/core/session';

export interface LoadParams {
  folder: string;
  runtime: RuntimeOptions;
  engine: Partial<EngineOptions>;
}

export interface ModelInfo {
  manifest: Manifest;
  backend: string;
  /** Where each kind of run goes and why (null for a session without a scheduler). */
  report: BackendReport | null;
  loadMs: number;
}

export interface CompareParams {
  folders: string[];
  runtime: RuntimeOptions;
  text: string;
  /** The file's language, for models that read a language header. */
  languageId?: string;
  offset: number;
  contexts: number[];
  options: Partial<CompleteOptions>;
}

export interface CompareRow {
  id: string;
  variant: string;
  error?: string;
  suggestion?: string | null;
  ttfsMs?: number;
  stepMsByContext?: Array<{ context: number; ms: number }>;
  stateBytesByContext?: Array<{ context: number; bytes: number }>;
}

export type Request =
  | { kind: 'load'; params: LoadParams }
  | { kind: 'unload' }
  | { kind: 'open'; uri: string; text: string; languageId?: string }
  | { kind: 'edit'; uri: string; edits: TokenEdit[] }
  | { kind: 'close'; uri: string }
  | { kind: 'remember'; uri: string; text: string }
  | { kind: 'forget'; uri: string }
  | { kind: 'cursor'; uri: string; offset: number }
  | { kind: 'complete'; uri: string; offset: number; options: Partial<CompleteOptions> }
  | { kind: 'encode'; uri: string; offset?: number }
  | { kind: 'cancel'; target: number }
  | { kind: 'idle' }
  | { kind: 'stats' }
  | { kind: 'compare'; params: CompareParams }
  | { kind: 'crash' };

export type Envelope = { id: number } & Request;

export type Reply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: { name: string; message: string } };

/** Unasked news from the worker: the backend plan changed (measured, or WebGPU failed). */
export interface WorkerEvent {
  event: 'backend';
  report: BackendReport;
}

export type Responses = {
  load: ModelInfo;
  unload: null;
  open: null;
  edit: null;
  close: null;
  remember: null;
  forget: null;
  cursor: null;
  complete: CompletionResult;
  encode: null;
  cancel: null;
  idle: null;
  stats: { documents: number; stateBytes: number; budgetBytes: number; checkpoints: number } | null;
  compare: CompareRow[];
  crash: null;
};
