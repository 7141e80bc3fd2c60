/**
 * A server-made `system` message (the doctor closed or reopened the conversation, or an
 * automatic answer: the doctor is away, or it is outside their office hours): a centred,
 * muted line with its time and, for a close, the reason; for an automatic answer, in
 * amber, what happens next and the emergency numbers. Not a bubble: no sender, no ticks, no actions, no encryption warning (the
 * server writes it in clear by design, docs/messaging.md).
 */
import type { UiMessage } from '../../api';
import { useI18n } from '../../i18n';
import { isAutomaticAnswer, systemEventOf, systemNoticeText } from './systemEvents';

export function SystemNotice({ message, meId }: { message: UiMessage; meId: string }) {
  const { t, format } = useI18n();
  const { title, reason, detail } = systemNoticeText(message, t, format, meId);
  const automatic = isAutomaticAnswer(systemEventOf(message));
  return (
    <div
      role="note"
      data-testid="system-notice"
      data-event={message.metadata.system?.event}
      className="my-2 flex justify-center motion-safe:animate-message-appear"
    >
      <p
        className={`max-w-[90%] rounded-2xl px-3 py-1.5 text-center text-xs ${
          automatic ? 'bg-amber-50 text-amber-900 ring-1 ring-amber-200' : 'bg-slate-200/70 text-slate-600'
        }`}
      >
        <span className={`font-semibold ${automatic ? 'text-amber-950' : 'text-slate-700'}`}>{title}</span>
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
