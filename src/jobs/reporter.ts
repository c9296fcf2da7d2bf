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
  /** A progress line that replaces the previous one: shown only on a terminal; '' clears it. */
  progress(line: string): void;
}

export const silentReporter: Reporter = {
  info: () => undefined,
  debug: () => undefined,
  warn: () => undefined,
  event: () => undefined,
  progress: () => undefined,
};
