/**
 * Typed errors with stable codes. Every message says what went wrong and how to fix it,
 * because these reach operators in a single line, never in a stack trace.
 */
export const ExitCode = Object.freeze({
  OK: 0,
  /** An unexpected internal failure (a bug in gserve), or output that could not be written. */
  INTERNAL: 1,
  /** A wrong flag, setting or config file. */
  USAGE: 2,
  /** A worker could not boot (e.g. could not listen). Gunicorn's WORKER_BOOT_ERROR. */
  WORKER_BOOT: 3,
  /** The app module could not be loaded. Gunicorn's APP_LOAD_ERROR. */
  APP_LOAD: 4,
});
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Whether a process's exit code is one gserve defines. */
export function isExitCode(code: number | null): code is ExitCode {
  return Object.values(ExitCode).some((known) => known === code);
}

export class GserveError extends Error {
  override name = 'GserveError';
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode: ExitCode = ExitCode.USAGE,
  ) {
    super(message);
  }
}

/** A setting has a bad value, or is unknown; names the setting and where the value came from. */
export class SettingError extends GserveError {
  override name = 'SettingError';
  constructor(message: string, code = 'GSERVE_E_SETTING') {
    super(code, message, ExitCode.USAGE);
  }
}

export class ConfigFileError extends GserveError {
  override name = 'ConfigFileError';
  constructor(message: string) {
    super('GSERVE_E_CONFIG_FILE', message, ExitCode.USAGE);
  }
}

export class AppLoadError extends GserveError {
  override name = 'AppLoadError';
  constructor(
    code: string,
    message: string,
    /**
     * `file:line:column`, the offending source line and a caret under the column, the way node
     * shows them; shown below the one-line message.
     */
    readonly excerpt?: string,
  ) {
    super(code, message, ExitCode.APP_LOAD);
  }
}

/**
 * An app's response would break HTTP's framing: a header that would split the response, or a body
 * that is not the length its Content-Length says. Raised in the app's own call (its writeHead,
 * write or end), so it fails like any app error: a 500 if nothing went out yet, else a cut connection.
 */
export class ResponseError extends GserveError {
  override name = 'ResponseError';
  constructor(
    code: 'GSERVE_E_RESPONSE_HEADER' | 'GSERVE_E_RESPONSE_LENGTH' | 'GSERVE_E_RESPONSE_STATUS',
    message: string,
  ) {
    super(code, message, ExitCode.INTERNAL);
  }
}

/**
 * An app answered a request with an app: APP names a factory that was not called (`mod:create`
 * for `mod:create()`), so every request made a new app and none was answered.
 */
export class UncalledFactoryError extends GserveError {
  override name = 'UncalledFactoryError';
  constructor(returned: string, instead: string) {
    super(
      'GSERVE_E_APP_UNCALLED_FACTORY',
      `The app returned ${returned} instead of ${instead}: APP names a factory that gserve did not call. ` +
        'Call it in APP with parentheses, e.g. app:create() for app:create.',
      ExitCode.INTERNAL,
    );
  }
}

export class BindError extends GserveError {
  override name = 'BindError';
  constructor(message: string) {
    super('GSERVE_E_BIND', message, ExitCode.WORKER_BOOT);
  }
}

/** One line for a human: the message and its code, never a stack. */
export function describeError(err: unknown): string {
  if (err instanceof GserveError) return `${err.message} [${err.code}]`;
  if (err instanceof Error) return err.message;
  return String(err);
}

/** A system error's `code` (ENOENT, EADDRINUSE, …), or undefined for anything without one. */
export function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  return typeof err.code === 'string' ? err.code : undefined;
}

/** What went wrong, in the thrower's words: an Error's message, or the thrown value itself. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** An app's error as a log line's fields: `err` with its type, message, code (where it has one: gserve's, node's) and stack. */
export function appErrorFields(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { err: String(err) };
  const code = errorCode(err);
  // The cause's own stack: an error wrapping another (ES2022 `cause`) often points at the wrapper.
  const { cause: c } = err;
  const cause = c instanceof Error && c !== err ? { cause: { type: c.name, message: c.message, stack: c.stack } } : {};
  return { err: { type: err.name, message: err.message, ...(code ? { code } : {}), stack: err.stack, ...cause } };
}

/** The exit code a thrown error asks for (GserveError and anything else carrying a numeric `exitCode`). */
export function exitCodeOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null || !('exitCode' in err)) return undefined;
  return typeof err.exitCode === 'number' ? err.exitCode : undefined;
}
