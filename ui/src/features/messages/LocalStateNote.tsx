/**
 * What happens to an own message the server has not acknowledged yet (`local` from the
 * client core, docs/desktop-ipc.md): still sending, waiting for the peer's first sign-in
 * (no keys to encrypt for), slowed down by the rate limit (retried automatically), or
 * refused — then the reason, from the error code, with "Réessayer" (same
 * clientMessageId) and "Abandonner".
 */
import { isErrorCode, type UiMessage } from '../../api';
import { useI18n } from '../../i18n';
import { errorKey } from '../../app/errorMessages';
import { ClockIcon, RetryIcon, TrashIcon } from '../../components/icons';

type LocalStateNoteProps = {
  message: UiMessage;
  onRetry: (message: UiMessage) => void;
  onDiscard: (message: UiMessage) => void;
};

export function LocalStateNote({ message, onRetry, onDiscard }: LocalStateNoteProps) {
  const { t, format } = useI18n();
  const local = message.local;
  if (!local) return null;
  switch (local.state) {
    case 'sending':
      return null;
    case 'waitingForKeys':
      return (
        <p data-testid="send-waiting" className="mt-1 flex items-center gap-1 text-xs text-slate-600">
          <ClockIcon className="h-3.5 w-3.5 shrink-0" />
          {t('message.waitingForKeys', { name: local.peerName })}
        </p>
      );
    case 'slowedDown':
      return (
        <p data-testid="send-slowed" className="mt-1 flex items-center gap-1 text-xs text-amber-800">
          <ClockIcon className="h-3.5 w-3.5 shrink-0" />
          {t('message.slowedDown', { time: format.time(local.retryAt) })}
        </p>
      );
    case 'failed': {
      const reason = isErrorCode(local.code) && local.code !== 'INTERNAL' ? t(errorKey(local.code)) : t('message.sendFailed');
      return (
        <div className="mt-1 flex max-w-full flex-wrap items-center justify-end gap-2 text-xs text-red-700">
          <span data-testid="send-error" role="alert">
            {reason}
          </span>
          <button
            type="button"
            data-testid="retry-send"
            onClick={() => onRetry(message)}
            className="inline-flex items-center gap-1 rounded-full bg-red-50 px-2 py-0.5 font-semibold text-red-700 ring-1 ring-red-200 hover:bg-red-100 focus-visible:outline focus-visible:outline-2 focus-visible:outline-red-600"
          >
            <RetryIcon className="h-3.5 w-3.5" />
            {t('message.retry')}
          </button>
          <button
            type="button"
            data-testid="discard-send"
            onClick={() => onDiscard(message)}
            className="inline-flex items-center gap-1 rounded-full px-2 py-0.5 font-medium text-slate-600 ring-1 ring-slate-300 hover:bg-slate-100 focus-visible:outline focus-visible:outline-2 focus-visible:outline-blue-600"
          >
            <TrashIcon className="h-3.5 w-3.5" />
            {t('message.discard')}
          </button>
        </div>
      );
    }
  }
}
