/**
 * Exit codes of the client commands (documented in `ims --help`). Scripts rely on them:
 * they never change meaning, new failures get new numbers.
 */
export const EXIT = {
  /** The command did what it was asked. */
  ok: 0,
  /** The server answered with an error (4xx/5xx), or downloaded data failed its checksum. */
  api: 1,
  /** The command line is wrong: unknown command or option, missing or bad argument. */
  usage: 2,
  /** The server could not be reached (refused, DNS, TLS, reset). */
  connection: 3,
  /** No usable profile or credentials: not signed in, token expired, config file unreadable. */
  config: 4,
  /** `ims job wait`: the job ended in FAIL. */
  jobFailed: 5,
  /** `ims job wait`: the job did not end within --timeout. */
  timeout: 6,
  /** Interrupted (Ctrl-C). */
  interrupted: 130,
} as const;

/** A wrong command line: exit 2, with a pointer to the command's --help. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** No usable profile or credentials: exit 4. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** A failure with its own exit code (job failed, wait timed out, checksum mismatch). */
export class ExitError extends Error {
  override readonly name = 'ExitError';
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

/** fetch's failure to reach the server or to finish sending (refused, reset, broken pipe). */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const cause = (err as { cause?: { code?: string } }).cause;
  return (
    (err.name === 'TypeError' && err.message === 'fetch failed') ||
    ['ECONNREFUSED', 'ENOTFOUND', 'ECONNRESET', 'EPIPE', 'EAI_AGAIN', 'ETIMEDOUT', 'UND_ERR_SOCKET'].includes(
      cause?.code ?? '',
    )
  );
}
