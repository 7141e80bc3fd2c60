/** The sentence shown for an error code anywhere outside the login form. */
import type { ErrorCode } from '../api';
import type { MessageKey } from '../i18n';

const KEYS: Partial<Record<ErrorCode, MessageKey>> = {
  AUTH_REQUIRED: 'error.sessionExpired',
  SESSION_EXPIRED: 'error.sessionExpired',
  NOT_SIGNED_IN: 'error.sessionExpired',
  CONTEXT_ACCESS_DENIED: 'error.accessDenied',
  NOT_FOUND: 'error.notFound',
  VALIDATION_FAILED: 'error.validation',
  E2E_REQUIRED: 'error.e2eRequired',
  MALFORMED_ENVELOPE: 'error.e2eRequired',
  RATE_LIMIT_EXCEEDED: 'error.rateLimited',
  CONFLICT: 'error.conflict',
  NETWORK_UNAVAILABLE: 'error.network',
  CACHE_ERROR: 'error.cache',
  KEYCHAIN_ERROR: 'error.keychain',
  PEER_KEY_CHANGED: 'error.peerKeyChanged',
  DECRYPTION_FAILED: 'error.decryption',
  ACCOUNT_DISABLED: 'error.accountDisabled',
  OFFLINE_READ_ONLY: 'error.offlineReadOnly',
  RETRY_UNKNOWN: 'error.retryUnknown',
  TLS_ERROR: 'error.tls',
  SESSION_CLOSED: 'error.sessionClosed',
};

export function errorKey(code: ErrorCode): MessageKey {
  return KEYS[code] ?? 'error.generic';
}
