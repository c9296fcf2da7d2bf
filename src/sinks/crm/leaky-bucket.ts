/**
 * The client side of Bitrix24's leaky bucket (facts §2): a counter that drains `perSecond` every second and
 * blocks at `capacity`. Keeping the same model as the portal lets us wait before a request instead of
 * being refused after it.
 */
export class LeakyBucket {
  private level = 0;
  private updatedAt: number;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly perSecond: number,
    private readonly capacity: number,
    private readonly now: () => number = Date.now,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  ) {
    this.updatedAt = now();
  }

  /** Resolves when one more request fits; callers are served in order so a burst cannot overtake a waiter. */
  take(): Promise<number> {
    const turn = this.queue.then(() => this.waitForRoom());
    this.queue = turn.then(() => undefined, () => undefined);
    return turn;
  }

  /**
   * The portal refused us: it counts more than we do (another process on the same IP, or a run that just
   * ended), so assume it is full and pace from there.
   */
  markFull(): void {
    this.drain();
    this.level = this.capacity;
  }

  get currentLevel(): number {
    this.drain();
    return this.level;
  }

  private async waitForRoom(): Promise<number> {
    let waited = 0;
    for (;;) {
      this.drain();
      // One slot of headroom: the portal sees our requests a little later than we send them, and jitter
      // between two requests must not make it count one more than we did.
      const room = Math.max(1, this.capacity - 1);
      if (this.level + 1 <= room) {
        this.level += 1;
        return waited;
      }
      const ms = Math.ceil(((this.level + 1 - room) / this.perSecond) * 1000);
      waited += ms;
      await this.sleep(ms);
    }
  }

  private drain(): void {
    const now = this.now();
    this.level = Math.max(0, this.level - ((now - this.updatedAt) / 1000) * this.perSecond);
    this.updatedAt = now;
  }
}
