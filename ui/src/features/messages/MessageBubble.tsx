/**
 * One message. Patient messages are blue, doctor messages grey; one's own sit on the
 * right with delivery ticks. A patient's question shows its category in small text next
 * to its flags. Content is always rendered as text. A server-made `system` message is no
 * bubble but a centred notice (SystemNotice).
 */
import { memo } from 'react';
import type { ErrorCode, UiMessage as Message } from '../../api';
import { useI18n, type MessageKey } from '../../i18n';
import { AlertIcon, CheckIcon, ClockIcon, DoubleCheckIcon, ReplyIcon, TrashIcon, WarningIcon } from '../../components/icons';
import { FlagBadge } from '../../components/Badge';
import { MediaAttachment } from '../media/MediaAttachment';
import { CATEGORY_LABEL } from '../contexts/questions';
import { LocalStateNote } from './LocalStateNote';
import { SystemNotice } from './SystemNotice';

/**
 * Whether the Rust client said this message is not verified end to end: clear
 * text (`encrypted: false`) or an envelope that failed a check (`e2eError`).
 * Server-made system lines are not from a peer. Absent flags (an own message
 * still in the outbox) are not a warning.
 */
export function isUnverified(message: Message): boolean {
  if (message.type === 'system' || message.deletedAt) return false;
  return message.encrypted === false || Boolean(message.e2eError);
}

export type TickState = 'pending' | 'failed' | 'sent' | 'delivered' | 'read';

export function tickState(message: Message): TickState {
  if (message.local?.state === 'failed') return 'failed';
  if (message.local) return 'pending';
  return message.status;
}

const TICK_LABEL: Record<TickState, MessageKey> = {
  pending: 'status.pending',
  failed: 'status.failed',
  sent: 'status.sent',
  delivered: 'status.delivered',
  read: 'status.read',
};

export function StatusTicks({ state }: { state: TickState }) {
  const { t } = useI18n();
  const label = t(TICK_LABEL[state]);
  const common = 'inline-flex items-center';
  switch (state) {
    case 'pending':
      return (
        <span role="img" aria-label={label} title={label} data-status={state} className={`${common} text-slate-400`}>
          <ClockIcon className="h-3.5 w-3.5" />
        </span>
      );
    case 'failed':
      return (
        <span role="img" aria-label={label} title={label} data-status={state} className={`${common} text-red-600`}>
          <AlertIcon className="h-3.5 w-3.5" />
        </span>
      );
    case 'sent':
      return (
        <span role="img" aria-label={label} title={label} data-status={state} className={`${common} text-slate-400`}>
          <CheckIcon className="h-3.5 w-3.5" />
        </span>
      );
    case 'delivered':
      return (
        <span role="img" aria-label={label} title={label} data-status={state} className={`${common} text-slate-600`}>
          <CheckIcon className="h-4 w-4 stroke-[2.6]" />
        </span>
      );
    case 'read':
      return (
        <span role="img" aria-label={label} title={label} data-status={state} className={`${common} text-blue-600`}>
          <DoubleCheckIcon className="h-4 w-4 stroke-[2.4]" />
        </span>
      );
  }
}

type MessageBubbleProps = {
  message: Message;
  own: boolean;
  /** Who reads: a `system` notice may speak to its recipient differently. */
  meId: string;
  highlighted: boolean;
  onRetry: (message: Message) => void;
  onDiscard: (message: Message) => void;
  onDelete: (message: Message) => void;
  onDownloaded: (path: string) => void;
  onError: (code: ErrorCode) => void;
};

function MessageBubbleView({ message, own, meId, highlighted, onRetry, onDiscard, onDelete, onDownloaded, onError }: MessageBubbleProps) {
  const { t, format } = useI18n();
  const deleted = Boolean(message.deletedAt);
  const state = tickState(message);
  const time = format.time(message.timestamp);

  if (message.type === 'system') return <SystemNotice message={message} meId={meId} />;

  const colors = deleted
    ? 'border border-dashed border-slate-300 bg-white text-slate-500'
    : message.sender.type === 'patient'
      ? 'bg-blue-500 text-white'
      : 'bg-gray-200 text-gray-800';
  const shape = own ? 'rounded-2xl rounded-br-md' : 'rounded-2xl rounded-bl-md';
  const unverified = isUnverified(message);
  // Anyone could have set the flag on an unverified message: it is not shown as urgent.
  const urgent = message.metadata.isUrgent && !deleted && !unverified;
  const requiresResponse = message.metadata.requiresResponse && !deleted;
  const category = !deleted && message.metadata.category ? message.metadata.category : null;
  const border =
    state === 'failed'
      ? 'ring-2 ring-red-500'
      : unverified
        ? 'outline-dashed outline-2 outline-offset-2 outline-amber-600'
        : urgent
          ? 'ring-2 ring-red-500 ring-offset-1'
          : '';

  return (
    <div className={`group flex ${own ? 'justify-end' : 'justify-start'} motion-safe:animate-message-appear`}>
      <div className={`flex max-w-[85%] flex-col sm:max-w-[75%] ${own ? 'items-end' : 'items-start'}`}>
        <div className="flex items-center gap-1">
          {own && !deleted && !message.local && message.id && (
            <button
              type="button"
              onClick={() => onDelete(message)}
              aria-label={t('message.delete')}
              title={t('message.delete')}
              className="rounded-full p-1.5 text-slate-400 opacity-0 transition-opacity hover:bg-slate-200 hover:text-red-600 focus:opacity-100 focus-visible:outline focus-visible:outline-2 focus-visible:outline-blue-600 group-hover:opacity-100"
            >
              <TrashIcon className="h-4 w-4" />
            </button>
          )}
          <div
            className={`relative px-3.5 py-2 shadow-sm ${shape} ${colors} ${border} ${
              highlighted ? 'outline outline-4 outline-yellow-300 motion-safe:animate-flash' : ''
            } ${state === 'pending' ? 'opacity-80' : ''}`}
          >
            <p className="sr-only">{t(own ? 'message.fromMe' : 'message.from', { name: message.sender.name, time })}</p>
            {unverified && (
              <p
                role="note"
                data-testid="unverified-warning"
                className="mb-1.5 flex items-start gap-1.5 rounded-md bg-amber-100 px-2 py-1 text-xs font-semibold text-amber-900 ring-1 ring-amber-400"
              >
                <AlertIcon className="mt-px h-3.5 w-3.5 shrink-0" />
                <span>
                  {t(message.e2eError ? 'message.unverified.failed' : 'message.unverified.clear')}
                  {message.metadata.isUrgent && ` ${t('message.unverified.urgentIgnored')}`}
                </span>
              </p>
            )}
            {(urgent || requiresResponse || category) && (
              <div className="mb-1 flex flex-wrap items-center gap-1">
                {urgent && (
                  <FlagBadge tone="urgent">
                    <WarningIcon className="h-3 w-3" />
                    {t('message.urgent')}
                  </FlagBadge>
                )}
                {requiresResponse && (
                  <FlagBadge tone="response">
                    <ReplyIcon className="h-3 w-3" />
                    {t('message.requiresResponse')}
                  </FlagBadge>
                )}
                {category && (
                  <span data-testid="message-category" data-category={category} className="min-w-0 break-words text-[11px] font-medium opacity-80">
                    <span className="sr-only">{t('message.category')} </span>
                    {t(CATEGORY_LABEL[category])}
                  </span>
                )}
              </div>
            )}
            {deleted ? (
              <p className="italic">{t('message.deleted')}</p>
            ) : (
              <>
                {message.content && <p className="whitespace-pre-wrap break-words text-[15px] leading-relaxed">{message.content}</p>}
                {message.attachments.map((a) => (
                  <MediaAttachment key={a.id} attachment={a} own={message.sender.type === 'patient'} onDownloaded={onDownloaded} onError={onError} />
                ))}
              </>
            )}
          </div>
        </div>
        <div className={`mt-0.5 flex items-center gap-1.5 px-1 text-[11px] text-slate-500 ${own ? 'flex-row-reverse' : ''}`}>
          {own && <StatusTicks state={state} />}
          <time dateTime={message.timestamp} aria-hidden="true">
            {time}
          </time>
          {message.encrypted === false && !deleted && <span className="text-amber-700">{t('message.notEncrypted')}</span>}
        </div>
        {own && message.local && <LocalStateNote message={message} onRetry={onRetry} onDiscard={onDiscard} />}
      </div>
    </div>
  );
}

/**
 * Memoised: an arrival or a status re-renders the list, but only the bubbles whose message
 * object changed (merges keep the others' identity) are rendered again.
 */
export const MessageBubble = memo(MessageBubbleView);
