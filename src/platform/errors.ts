/**
 * The one error type of the app. `expose` says whether `message` may be shown to the caller;
 * 5xx errors never expose internals.
 */
export class AppError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly expose = status < 500,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'AppError';
  }
}
