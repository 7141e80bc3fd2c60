/**
 * A server-made `system` message (the doctor closed or reopened the conversation, or the
 * automatic answer of an absent doctor): a centred, muted line with its time and, for a
 * close, the reason; for the automatic answer, what happens next and the emergency
 * numbers. Not a bubble: no sender, no ticks, no actions, no encryption warning (the
 * server writes it in clear by design, docs/messaging.md).
 */
import type { UiMessage } from '../../api';
import { useI18n } from '../../i18n';
import { systemEventOf, systemNoticeText } from './systemEvents';

export function SystemNotice({ message, meId }: { message: UiMessage; meId: string }) {
  const { t, format } = useI18n();
  const { title, reason, detail } = systemNoticeText(message, t, format, meId);
  const absent = systemEventOf(message)?.event === 'absent';
  return (
    <div
      role="note"
      data-testid="system-notice"
      data-event={message.metadata.system?.event}
      className="my-2 flex justify-center motion-safe:animate-message-appear"
    >
      <p
        className={`max-w-[90%] rounded-2xl px-3 py-1.5 text-center text-xs ${
          absent ? 'bg-amber-50 text-amber-900 ring-1 ring-amber-200' : 'bg-slate-200/70 text-slate-600'
        }`}
      >
        <span className={`font-semibold ${absent ? 'text-amber-950' : 'text-slate-700'}`}>{title}</span>
        <span aria-hidden="true"> · </span>
        <time dateTime={message.timestamp}>{format.time(message.timestamp)}</time>
        {reason && (
          <span data-testid="system-notice-reason" className="mt-0.5 block">
            {reason}
          </span>
        )}
        {detail && (
          <span data-testid="system-notice-detail" className="mt-0.5 block">
            {detail}
          </span>
        )}
      </p>
    </div>
  );
}
