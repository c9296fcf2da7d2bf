/**
 * A hand-off between the broker's push callbacks and the batch loop: `take` waits for the first item
 * (up to idleMs), then lingers briefly for more so that a batch fills when messages are flowing.
 */
export class Inbox<T> {
  private readonly items: T[] = [];
  private waiter?: () => void;
  private closed = false;

  push(item: T): void {
    this.items.push(item);
    this.wake();
  }

  close(): void {
    this.closed = true;
    this.wake();
  }

  get size(): number {
    return this.items.length;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Up to `max` items; [] when nothing arrived within idleMs or the inbox is closed and empty. */
  async take(max: number, lingerMs: number, idleMs: number): Promise<T[]> {
    if (this.items.length === 0 && !this.closed) await this.waitFor(idleMs);
    if (this.items.length > 0 && this.items.length < max && !this.closed) await this.waitFor(lingerMs, max);
    return this.items.splice(0, max);
  }

  private waitFor(ms: number, untilSize = 1): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const check = () => {
        if (this.items.length >= untilSize || this.closed) done();
      };
      const self = this;
      function done() {
        clearTimeout(timer);
        if (self.waiter === check) self.waiter = undefined;
        resolve();
      }
      this.waiter = check;
    });
  }

  private wake(): void {
    this.waiter?.();
  }
}
