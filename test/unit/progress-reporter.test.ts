import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createReporter, type OutputMode } from '../../src/cli/output.js';

/** A terminal as far as cli-progress can tell: isTTY, a width, and everything written kept. */
function fakeTerminal(): Writable & { isTTY: boolean; columns: number; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({ write(chunk, _encoding, done) { chunks.push(String(chunk)); done(); } }) as Writable & { isTTY: boolean; columns: number; text: () => string };
  stream.isTTY = true;
  stream.columns = 160;
  stream.text = () => chunks.join('');
  return stream;
}

const terminal: OutputMode = { json: false, quiet: false, verbose: false, tty: true };
// eslint-disable-next-line no-control-regex
const withoutEscapes = (text: string) => text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');

beforeEach(() => { vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] }); });
afterEach(() => { vi.useRealTimers(); });

describe('the progress reporter (issue 10, item 4)', () => {
  it('renders a bar with count/total, rate and ETA on a terminal, and takes it off the screen when done', () => {
    const stderr = fakeTerminal();
    const reporter = createReporter(terminal, { stdout: { isTTY: true }, stderr });
    reporter.progress({ label: 't.user.records', done: 0, total: 1000, unit: 'messages' });
    vi.advanceTimersByTime(10_000);
    reporter.progress({ label: 't.user.records', done: 500, total: 1000, unit: 'messages', detail: '500 written' });
    vi.advanceTimersByTime(200);
    const shown = withoutEscapes(stderr.text());
    // 500 of 1000 after 10 s: 50 a second, 10 s to go; the bar half full (12 of 24 cells).
    expect(shown).toContain(`t.user.records ${'█'.repeat(12)}${'░'.repeat(12)} 50% | 500/1000 messages | 50 messages/s | ETA 10s | 500 written`);
    expect(shown).toContain('t.user.records ░░░░░░░░░░░░░░░░░░░░░░░░ 0% | 0/1000 messages');
    reporter.progress(null);
    // Cleared, not left behind: the last thing written is "column 1, erase the line".
    expect(stderr.text().endsWith('\x1b[1G\x1b[2K')).toBe(true);
  });

  it('shows file bytes against the file size, and a count alone where no total is known', () => {
    const stderr = fakeTerminal();
    const reporter = createReporter(terminal, { stdout: { isTTY: true }, stderr });
    reporter.progress({ label: 'import0_1.xml', done: 0, total: 4 * 1024 * 1024, unit: 'bytes' });
    vi.advanceTimersByTime(2_000);
    reporter.progress({ label: 'import0_1.xml', done: 1024 * 1024, total: 4 * 1024 * 1024, unit: 'bytes' });
    vi.advanceTimersByTime(200);
    expect(withoutEscapes(stderr.text())).toContain('25% | 1.0 MiB/4.0 MiB | 512.0 KiB/s | ETA 6s');
    reporter.progress({ label: 'users.jsonl', done: 0, unit: 'records' });
    vi.advanceTimersByTime(1_000);
    reporter.progress({ label: 'users.jsonl', done: 300, unit: 'records' });
    vi.advanceTimersByTime(200);
    const shown = withoutEscapes(stderr.text());
    expect(shown).toContain('users.jsonl 300 records | 300 records/s');
    expect(shown).not.toContain('users.jsonl 300 records | 300 records/s | ETA');
    reporter.progress(null);
  });

  it('shows nothing when stdout is not a terminal, with --json or with --quiet', () => {
    for (const [mode, stdoutTty] of [[terminal, false], [{ ...terminal, json: true }, true], [{ ...terminal, quiet: true }, true]] as const) {
      const stderr = fakeTerminal();
      const reporter = createReporter(mode, { stdout: { isTTY: stdoutTty }, stderr });
      reporter.progress({ label: 'q', done: 10, total: 100, unit: 'messages' });
      vi.advanceTimersByTime(1_000);
      reporter.progress({ label: 'q', done: 50, total: 100, unit: 'messages' });
      reporter.progress(null);
      expect(stderr.text()).toBe('');
    }
  });

  it('clears the bar before a warning, so the line is whole, then draws it again', () => {
    const stderr = fakeTerminal();
    const reporter = createReporter(terminal, { stdout: { isTTY: true }, stderr });
    reporter.progress({ label: 'q', done: 10, total: 100, unit: 'messages' });
    reporter.warn('something odd');
    reporter.progress({ label: 'q', done: 20, total: 100, unit: 'messages' });
    const [before, after] = stderr.text().split('warning: something odd');
    expect(withoutEscapes(before)).toContain('10/100 messages');
    // eslint-disable-next-line no-control-regex
    expect(before).toMatch(/\x1b\[1G\x1b\[2K(\x1b\[\d+m)?$/);
    expect(withoutEscapes(after)).toContain('20/100 messages');
    reporter.progress(null);
  });
});
