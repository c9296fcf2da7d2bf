/**
 * Every error that leaves a job is an ExchangeError: it carries the sysexits code the
 * entry point exits with (DESIGN §3), a hint that tells the operator what to do, and the cause.
 */
export const ExitCode = {
  ok: 0,
  partial: 1,
  usage: 64,
  dataError: 65,
  unavailable: 69,
  internal: 70,
  tempFail: 75,
  config: 78,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export type ErrorCode =
  | 'USAGE'
  | 'BAD_INPUT'
  | 'NOT_FOUND'
  | 'AMQP_UNAVAILABLE'
  | 'RECORD_STORE_UNAVAILABLE'
  | 'SINK_UNAVAILABLE'
  | 'SOURCE_UNAVAILABLE'
  | 'UNROUTABLE'
  | 'LOCKED'
  | 'STORE_BUSY'
  | 'INTERRUPTED'
  | 'CONFIG'
  | 'TOPOLOGY_MISMATCH'
  | 'INTERNAL';

const exitByCode: Record<ErrorCode, ExitCodeValue> = {
  USAGE: ExitCode.usage,
  BAD_INPUT: ExitCode.dataError,
  // A lookup that found nothing: the question was fine, the answer is no (grep's 1, not a data error).
  NOT_FOUND: ExitCode.partial,
  AMQP_UNAVAILABLE: ExitCode.unavailable,
  RECORD_STORE_UNAVAILABLE: ExitCode.unavailable,
  SINK_UNAVAILABLE: ExitCode.unavailable,
  SOURCE_UNAVAILABLE: ExitCode.unavailable,
  UNROUTABLE: ExitCode.unavailable,
  LOCKED: ExitCode.tempFail,
  STORE_BUSY: ExitCode.tempFail,
  INTERRUPTED: ExitCode.tempFail,
  CONFIG: ExitCode.config,
  TOPOLOGY_MISMATCH: ExitCode.config,
  INTERNAL: ExitCode.internal,
};

export class ExchangeError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  /** Extra lines (one per problem) printed under the message, e.g. config issues. */
  readonly details: string[];

  constructor(code: ErrorCode, message: string, options: { hint?: string; cause?: unknown; details?: string[] } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ExchangeError';
    this.code = code;
    this.hint = options.hint;
    this.details = options.details ?? [];
  }

  get exitCode(): ExitCodeValue {
    return exitByCode[this.code];
  }
}

export function exitCodeOf(error: unknown): ExitCodeValue {
  if (error instanceof ExchangeError) return error.exitCode;
  if (isCommanderUsageError(error)) return ExitCode.usage;
  return ExitCode.internal;
}

function isCommanderUsageError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'code' in error &&
    typeof (error as { code: unknown }).code === 'string' && (error as { code: string }).code.startsWith('commander.');
}

export function describeCause(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
