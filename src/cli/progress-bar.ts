import type cliProgressModule from 'cli-progress';
import { lazyModule } from '../lazy-module.js';
import type { ProgressUpdate } from '../jobs/reporter.js';

// Loaded when a bar is first drawn: a cron run (no terminal) never needs it.
const cliProgress = lazyModule<typeof cliProgressModule>('cli-progress');

/**
 * The terminal's progress line (cli-progress): count, rate, ETA and a bar where the total is known. One bar
 * at a time, for the queue or file in hand; a new label starts a new one. The rate and ETA are the average
 * since the label started, so a pause for a log line (the bar is cleared, the line written, the bar redrawn)
 * does not reset them.
 */
export class ProgressBar {
  private bar?: cliProgressModule.SingleBar;
  private current?: ProgressUpdate | string;
  private started?: { label: string; at: number; done: number };

  constructor(private readonly stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }, private readonly now: () => number = Date.now) {}

  /** A plain string is shown as it is, with nothing to count. */
  update(update: ProgressUpdate | string): void {
    const label = typeof update === 'string' ? update : update.label;
    const done = typeof update === 'string' ? 0 : update.done;
    if (this.started?.label !== label) {
      this.clear();
      this.started = { label, at: this.now(), done };
    }
    this.current = update;
    const total = typeof update === 'string' ? 0 : knownTotal(update);
    if (!this.bar) {
      this.bar = new (cliProgress().SingleBar)({
        stream: this.stream,
        format: (options) => this.format(options),
        // Redrawn on a timer and on changes, at most 10 times a second; cleared (not left) when done.
        fps: 10,
        clearOnComplete: true,
        hideCursor: false,
        linewrap: false,
        barsize: 24,
        barCompleteChar: '\u2588',
        barIncompleteChar: '\u2591',
        autopaddingChar: ' ',
      });
      this.bar.start(total, done);
    } else {
      this.bar.setTotal(total);
      this.bar.update(done);
    }
  }

  /** Takes the bar off the screen (before a line of text, at the end of a queue or file). */
  clear(): void {
    this.bar?.stop();
    this.bar = undefined;
  }

  /** Forgets the label too: the next update starts a new count. */
  finish(): void {
    this.clear();
    this.started = undefined;
    this.current = undefined;
  }

  private format(options: cliProgressModule.Options): string {
    const update = this.current;
    if (update === undefined || typeof update === 'string') return update ?? '';
    const total = knownTotal(update);
    const elapsedSeconds = Math.max(0.001, (this.now() - (this.started?.at ?? this.now())) / 1000);
    const rate = Math.max(0, update.done - (this.started?.done ?? 0)) / elapsedSeconds;
    const parts: string[] = [];
    if (total > 0) {
      const share = Math.min(update.done, total) / total;
      parts.push(`${cliProgress().Format.BarFormat(share, options as never)} ${Math.floor(100 * share)}%`);
      parts.push(update.unit === 'bytes' ? `${bytes(update.done)}/${bytes(total)}` : `${update.done}/${total} ${update.unit}`);
    } else {
      parts.push(update.unit === 'bytes' ? bytes(update.done) : `${update.done} ${update.unit}`);
    }
    parts.push(update.unit === 'bytes' ? `${bytes(rate)}/s` : `${Math.round(rate)} ${update.unit}/s`);
    if (total > 0) parts.push(`ETA ${rate > 0 ? cliProgress().Format.TimeFormat(Math.round((total - Math.min(update.done, total)) / rate), options as never, 1).trim() : '?'}`);
    if (update.detail) parts.push(update.detail);
    return `${update.label} ${parts.join(' | ')}`;
  }
}

/** The total when it is known and at least what is done (messages may arrive while a queue drains). */
function knownTotal(update: ProgressUpdate): number {
  return update.total && update.total > 0 ? Math.max(update.total, update.done) : 0;
}

function bytes(value: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let scaled = value;
  let index = 0;
  while (scaled >= 1024 && index < units.length - 1) { scaled /= 1024; index++; }
  return `${index === 0 ? Math.round(scaled) : scaled.toFixed(1)} ${units[index]}`;
}
