import { describe, expect, it } from 'vitest';
import { uniqueName } from '../support/services.js';

describe('the run mark (test/support/global-setup.ts)', () => {
  it('reaches the test workers, and every unique name carries it, so the run can remove its leftovers', () => {
    const mark = process.env.EXCHANGE_TEST_RUN;
    expect(mark).toMatch(/^z[0-9a-f]{6}$/);
    expect(uniqueName('t')).toMatch(new RegExp(`^t${mark}[0-9a-z]+$`));
  });
});
