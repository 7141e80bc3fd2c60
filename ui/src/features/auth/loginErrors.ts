/** Which sentence the login screen shows for each error code. */
import type { ErrorCode } from '../../api';
import type { MessageKey } from '../../i18n';

export function loginErrorKey(code: ErrorCode): MessageKey {
  switch (code) {
    case 'AUTH_REQUIRED':
      return 'login.error.badCredentials';
    case 'RATE_LIMIT_EXCEEDED':
      return 'login.error.rateLimited';
    case 'NETWORK_UNAVAILABLE':
      return 'login.error.network';
    case 'VALIDATION_FAILED':
      return 'login.error.validation';
    case 'CONTEXT_ACCESS_DENIED':
      return 'login.error.accessDenied';
    case 'SESSION_EXPIRED':
      return 'login.error.sessionExpired';
    case 'KEYCHAIN_ERROR':
      return 'login.error.keychain';
    case 'CACHE_ERROR':
      return 'login.error.cache';
    case 'DECRYPTION_FAILED':
      return 'login.error.decryption';
    case 'TLS_ERROR':
      return 'login.error.tls';
    case 'INSECURE_SERVER_ADDRESS':
      return 'login.error.insecure';
    case 'ACCOUNT_DISABLED':
      return 'login.error.disabled';
    default:
      return 'error.generic';
  }
}
