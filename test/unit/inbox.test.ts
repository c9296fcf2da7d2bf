import { describe, expect, it } from 'vitest';
import { Inbox } from '../../src/jobs/inbox.js';

describe('Inbox (batching)', () => {
  it('returns a full batch at once when enough items wait', async () => {
    const inbox = new Inbox<number>();
    for (let i = 0; i < 25; i++) inbox.push(i);
    expect(await inbox.take(10, 1000, 1000)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(inbox.size).toBe(15);
  });

  it('lingers briefly for more, then returns a partial batch', async () => {
    const inbox = new Inbox<number>();
    inbox.push(1);
    setTimeout(() => inbox.push(2), 5);
    expect(await inbox.take(10, 50, 1000)).toEqual([1, 2]);
  });

  it('returns nothing after idleMs with no item, and at once when closed', async () => {
    const inbox = new Inbox<number>();
    const started = Date.now();
    expect(await inbox.take(10, 5, 60)).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(50);
    setTimeout(() => inbox.close(), 5);
    expect(await inbox.take(10, 5, 5000)).toEqual([]);
    expect(inbox.isClosed).toBe(true);
  });
});
