// Usage statistics kept on this machine only: suggestions shown, accepted, latency percentiles.
import { percentile } from './bench';

export interface StatsSnapshot {
  shown: number;
  accepted: number;
  requests: number;
  latencies: number[];
}

export const EMPTY_STATS: StatsSnapshot = { shown: 0, accepted: 0, requests: 0, latencies: [] };

const MAX_LATENCIES = 500; // a rolling window: percentiles of recent behaviour, bounded storage

export class CompletionStats {
  private s: StatsSnapshot;

  constructor(initial: StatsSnapshot = EMPTY_STATS) {
    this.s = { ...initial, latencies: [...initial.latencies].slice(-MAX_LATENCIES) };
  }

  request(): void {
    this.s.requests++;
  }

  shown(latencyMs: number): void {
    this.s.shown++;
    this.s.latencies.push(Math.round(latencyMs * 10) / 10);
    if (this.s.latencies.length > MAX_LATENCIES) this.s.latencies.shift();
  }

  accepted(): void {
    this.s.accepted++;
  }

  snapshot(): StatsSnapshot {
    return { ...this.s, latencies: [...this.s.latencies] };
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
      `Latency p50 ${p(50)}, p90 ${p(90)}, p99 ${p(99)} (last ${latencies.length})\n` +
      'Kept on this machine only; never sent anywhere.'
    );
  }
}
