// One model session runs one thing at a time; completions go before encoder runs, which go before
// background catch-up, so a waiting user never queues behind housekeeping.

export const enum Priority {
  Completion = 0,
  Encoder = 1,
  Background = 2,
}

interface Waiter {
  priority: number;
  seq: number;
  grant: () => void;
}

export class PriorityMutex {
  private busy = false;
  private seq = 0;
  private readonly waiting: Waiter[] = [];

  /** Resolves with a release function once every earlier, higher-priority holder is done. */
  acquire(priority: Priority): Promise<() => void> {
    return new Promise((resolve) => {
      const grant = () => resolve(() => this.release());
      if (!this.busy) {
        this.busy = true;
        grant();
      } else {
        this.waiting.push({ priority, seq: this.seq++, grant });
      }
    });
  }

  /** Runs fn under the lock. */
  async with<T>(priority: Priority, fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire(priority);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  get pending(): number {
    return this.waiting.length;
  }

  private release(): void {
    if (this.waiting.length === 0) {
      this.busy = false;
      return;
    }
    let best = 0;
    for (let i = 1; i < this.waiting.length; i++) {
      const w = this.waiting[i];
      const b = this.waiting[best];
      if (w.priority < b.priority || (w.priority === b.priority && w.seq < b.seq)) best = i;
    }
    const [next] = this.waiting.splice(best, 1);
    next.grant();
  }
}
