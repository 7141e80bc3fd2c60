/**
 * The one error type of the IPC boundary. Every command rejects with
 * `{ code, message }`; the UI switches on `code` only and never shows or parses
 * `message` (it is for logs).
 */

export const ERROR_CODES = [
  'AUTH_REQUIRED',
  'SESSION_EXPIRED',
  'CONTEXT_ACCESS_DENIED',
  'NOT_FOUND',
  'VALIDATION_FAILED',
  'RATE_LIMIT_EXCEEDED',
  'CONFLICT',
  'INTERNAL',
  'E2E_REQUIRED',
  'MALFORMED_ENVELOPE',
  'NETWORK_UNAVAILABLE',
  'NOT_SIGNED_IN',
  'CACHE_ERROR',
  'KEYCHAIN_ERROR',
  'PEER_KEY_CHANGED',
  'DECRYPTION_FAILED',
  'TLS_ERROR',
  'INSECURE_SERVER_ADDRESS',
  'ACCOUNT_DISABLED',
  'OFFLINE_READ_ONLY',
  'RETRY_UNKNOWN',
  /** A send into a conversation its doctor closed. */
  'SESSION_CLOSED',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

const KNOWN = new Set<string>(ERROR_CODES);

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && KNOWN.has(value);
}

/** A rejected command. `code` is normalised: anything unknown becomes `INTERNAL`. */
export class CommandError extends Error {
  readonly code: ErrorCode;
  /** The code as sent, kept for diagnostics when it was not one we know. */
  readonly rawCode: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = 'CommandError';
    this.code = isErrorCode(code) ? code : 'INTERNAL';
    this.rawCode = code;
  }
}

/** Turns whatever `invoke` rejected with into a `CommandError`. */
export function toCommandError(raw: unknown): CommandError {
  if (raw instanceof CommandError) return raw;
  if (typeof raw === 'object' && raw !== null && 'code' in raw) {
    const { code, message } = raw as { code: unknown; message?: unknown };
    return new CommandError(String(code), typeof message === 'string' ? message : '');
  }
  // Tauri rejects with a bare string when a command is missing or its args do not deserialize.
  return new CommandError('INTERNAL', typeof raw === 'string' ? raw : 'unknown error');
}

/** The code of any caught value, for UI branching. */
export function errorCode(raw: unknown): ErrorCode {
  return toCommandError(raw).code;
}
