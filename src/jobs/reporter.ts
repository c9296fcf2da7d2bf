/** Where a job is in its work: shown as a progress bar on a terminal, nowhere else. */
export interface ProgressUpdate {
  /** What is being worked through: a queue, a file. A new label starts a new bar. */
  label: string;
  /** How much of it is done, in `unit`. */
  done: number;
  /** How much there is, when known (a queue's depth at the start, a file's size); the bar and ETA need it. */
  total?: number | null;
  unit: 'messages' | 'records' | 'bytes';
  /** A few words after the numbers (written, retried, …). */
  detail?: string;
}

/** How jobs speak to the operator; the CLI decides whether it is a terminal, JSON lines or silence. */
export interface Reporter {
  /** Normal progress worth a line on a terminal (hidden by --quiet and in cron). */
  info(message: string): void;
  /** Only with --verbose. */
  debug(message: string): void;
  /** Something went wrong but the run goes on. */
  warn(message: string): void;
  /** A machine-readable event (one JSON object per line with --json). */
  event(event: Record<string, unknown>): void;
  /**
   * Progress of the work in hand, shown only on a terminal (never with --json or --quiet, never in cron).
   * `null` (or '') ends it; a plain string is a line without numbers, for jobs that have nothing to count against.
   */
  progress(update: ProgressUpdate | string | null): void;
}

export const silentReporter: Reporter = {
  info: () => undefined,
  debug: () => undefined,
  warn: () => undefined,
  event: () => undefined,
  progress: () => undefined,
};
