// Usage statistics kept on this machine only: suggestions shown, accepted, latency percentiles.
import { percentile } from '../engine/numbers';
import type { Origin } from '../engine/core/decode';

/** Where a suggestion came from. */
export type SuggestionOrigin = Origin;
const ORIGINS: readonly SuggestionOrigin[] = ['model', 'recall', 'both'];

export interface StatsSnapshot {
  shown: number;
  accepted: number;
  requests: number;
  latencies: number[];
  /** Shown and accepted per origin (absent in statistics kept before recall existed). */
  byOrigin?: Record<SuggestionOrigin, { shown: number; accepted: number }>;
  /** Suggestions the confidence gate held back (absent in statistics kept before it existed). */
  heldBack?: number;
}

export const EMPTY_STATS: StatsSnapshot = { shown: 0, accepted: 0, requests: 0, latencies: [] };

function emptyByOrigin(): Record<SuggestionOrigin, { shown: number; accepted: number }> {
  return {
    model: { shown: 0, accepted: 0 },
    recall: { shown: 0, accepted: 0 },
    both: { shown: 0, accepted: 0 },
  };
}

const MAX_LATENCIES = 500; // a rolling window: percentiles of recent behaviour, bounded storage

export class CompletionStats {
  private s: StatsSnapshot;

  constructor(initial: StatsSnapshot = EMPTY_STATS) {
    const byOrigin = emptyByOrigin();
    for (const o of ORIGINS) Object.assign(byOrigin[o], initial.byOrigin?.[o]);
    this.s = {
      ...initial,
      latencies: [...initial.latencies].slice(-MAX_LATENCIES),
      byOrigin,
      heldBack: initial.heldBack ?? 0,
    };
  }

  request(): void {
    this.s.requests++;
  }

  shown(latencyMs: number, origin: SuggestionOrigin = 'model'): void {
    this.s.shown++;
    this.s.byOrigin![origin].shown++;
    this.s.latencies.push(Math.round(latencyMs * 10) / 10);
    if (this.s.latencies.length > MAX_LATENCIES) this.s.latencies.shift();
  }

  /** A suggestion the model was unsure of, not shown (linea.minConfidence). */
  heldBack(): void {
    this.s.heldBack = (this.s.heldBack ?? 0) + 1;
  }

  accepted(origin?: SuggestionOrigin): void {
    this.s.accepted++;
    if (origin && ORIGINS.includes(origin)) this.s.byOrigin![origin].accepted++;
  }

  snapshot(): StatsSnapshot {
    return {
      ...this.s,
      latencies: [...this.s.latencies],
      byOrigin: structuredClone(this.s.byOrigin),
    };
  }

  /** The recent median latency, for the adaptive debounce. */
  medianLatency(): number {
    return this.s.latencies.length ? percentile(this.s.latencies.slice(-20), 50) : NaN;
  }

  summary(): string {
    const { shown, accepted, requests, latencies } = this.s;
    const rate = shown ? ((100 * accepted) / shown).toFixed(1) : '0.0';
    const p = (q: number) =>
      latencies.length ? `${percentile(latencies, q).toFixed(0)} ms` : 'n/a';
    return (
      `Requests: ${requests}\nSuggestions shown: ${shown}\nAccepted: ${accepted} (${rate}%)\n` +
      `Held back as unsure: ${this.s.heldBack ?? 0} (linea.minConfidence; Trigger Inline Suggestion shows them)\n` +
      `Latency p50 ${p(50)}, p90 ${p(90)}, p99 ${p(99)} (last ${latencies.length})\n` +
      ORIGINS.map((o) => {
        const { shown: n, accepted: a } = this.s.byOrigin![o];
        return `From ${o === 'both' ? 'model and recall' : o}: ${a} of ${n} accepted\n`;
      }).join('') +
      'Kept on this machine only; never sent anywhere.'
    );
  }
}
