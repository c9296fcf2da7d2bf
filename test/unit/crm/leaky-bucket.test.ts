import { afterEach, describe, expect, it, vi } from 'vitest';
import { LeakyBucket } from '../../../src/sinks/crm/leaky-bucket.js';

/** A clock the bucket reads, and a sleep that moves it: every wait is recorded and costs no real time. */
function fakeTime(start = 1_000_000) {
  const clock = { now: start, sleeps: [] as number[] };
  const now = () => clock.now;
  const sleep = async (ms: number) => {
    clock.sleeps.push(ms);
    clock.now += ms;
  };
  return { clock, now, sleep };
}

describe('leaky bucket (Bitrix24 facts §2: drains perSecond, blocks at capacity)', () => {
  afterEach(() => vi.useRealTimers());

  it('lets capacity − 1 requests through at once (one slot of headroom), then paces at the drain rate', async () => {
    const { clock, now, sleep } = fakeTime();
    const bucket = new LeakyBucket(2, 10, now, sleep);
    const waits: number[] = [];
    for (let i = 0; i < 9; i++) waits.push(await bucket.take());
    expect(waits).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(bucket.currentLevel).toBe(9);
    // Full to the headroom: one request more needs one unit drained, half a second at 2 per second.
    expect(await bucket.take()).toBe(500);
    expect(await bucket.take()).toBe(500);
    expect(clock.sleeps).toEqual([500, 500]);
    expect(bucket.currentLevel).toBe(9);
  });

  it('drains with time: 1.5 s at 2 per second takes 3 off the level, never below zero', async () => {
    const { clock, now, sleep } = fakeTime();
    const bucket = new LeakyBucket(2, 10, now, sleep);
    expect(bucket.currentLevel).toBe(0);
    for (let i = 0; i < 5; i++) await bucket.take();
    clock.now += 1500;
    expect(bucket.currentLevel).toBe(2);
    clock.now += 60_000;
    expect(bucket.currentLevel).toBe(0);
    // Time that passed before a request counts: the drained bucket lets the next 9 through at once.
    for (let i = 0; i < 9; i++) expect(await bucket.take()).toBe(0);
  });

  it('after a refusal assumes the portal is full and waits for two units to drain (full + one over the headroom)', async () => {
    const { clock, now, sleep } = fakeTime();
    const bucket = new LeakyBucket(2, 10, now, sleep);
    await bucket.take();
    clock.now += 250;
    bucket.markFull();
    expect(bucket.currentLevel).toBe(10);
    expect(await bucket.take()).toBe(1000);
    expect(clock.sleeps).toEqual([1000]);
  });

  it('marking full drains first: the time before the refusal is not counted again afterwards', async () => {
    const { clock, now, sleep } = fakeTime();
    const bucket = new LeakyBucket(1, 4, now, sleep);
    clock.now += 10_000;
    bucket.markFull();
    clock.now += 1000;
    expect(bucket.currentLevel).toBe(3);
  });

  it('serves waiters in the order they came, each waiting its own turn', async () => {
    const { clock, now, sleep } = fakeTime();
    const bucket = new LeakyBucket(2, 4, now, sleep);
    const waits = await Promise.all([bucket.take(), bucket.take(), bucket.take(), bucket.take(), bucket.take()]);
    // Room for 3 at once; then one unit drains in 500 ms for each of the next two.
    expect(waits).toEqual([0, 0, 0, 500, 500]);
    expect(clock.now - 1_000_000).toBe(1000);
  });

  it('rounds a wait up to whole milliseconds', async () => {
    const { now, sleep } = fakeTime();
    const bucket = new LeakyBucket(3, 2, now, sleep);
    expect(await bucket.take()).toBe(0);
    // One unit at 3 per second: 333.33… ms, rounded up so the unit has drained when it wakes.
    expect(await bucket.take()).toBe(334);
  });

  it('keeps one slot of room even with a capacity of one', async () => {
    const { now, sleep } = fakeTime();
    const bucket = new LeakyBucket(1, 1, now, sleep);
    expect(await bucket.take()).toBe(0);
    expect(await bucket.take()).toBe(1000);
  });

  it('a failed wait does not stop the callers behind it', async () => {
    const { clock, now, sleep } = fakeTime();
    let failNext = true;
    const bucket = new LeakyBucket(1, 2, now, async (ms) => {
      if (failNext) {
        failNext = false;
        throw new Error('interrupted');
      }
      await sleep(ms);
    });
    expect(await bucket.take()).toBe(0);
    const second = bucket.take();
    const third = bucket.take();
    await expect(second).rejects.toThrow('interrupted');
    expect(await third).toBe(1000);
    expect(clock.sleeps).toEqual([1000]);
  });

  it('by default reads the real clock and sleeps on a real timer', async () => {
    vi.useFakeTimers({ now: 0 });
    const bucket = new LeakyBucket(10, 2);
    expect(await bucket.take()).toBe(0);
    let settled: number | undefined;
    const second = bucket.take().then((waited) => (settled = waited));
    await vi.advanceTimersByTimeAsync(99);
    expect(settled).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    await second;
    expect(settled).toBe(100);
  });
});
