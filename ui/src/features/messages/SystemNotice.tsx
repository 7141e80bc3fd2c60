/**
 * A server-made `system` message (the doctor closed or reopened the conversation): a
 * centred, muted line with its time and, for a close, the reason. Not a bubble: no
 * sender, no ticks, no actions, no encryption warning (the server writes it in clear by
 * design, docs/messaging.md).
 */
import type { UiMessage } from '../../api';
import { useI18n } from '../../i18n';
import { systemNoticeText } from './systemEvents';

export function SystemNotice({ message }: { message: UiMessage }) {
  const { t, format } = useI18n();
  const { title, reason } = systemNoticeText(message, t);
  return (
    <div
      role="note"
      data-testid="system-notice"
      data-event={message.metadata.system?.event}
      className="my-2 flex justify-center motion-safe:animate-message-appear"
    >
      <p className="max-w-[90%] rounded-2xl bg-slate-200/70 px-3 py-1.5 text-center text-xs text-slate-600">
        <span className="font-semibold text-slate-700">{title}</span>
        <span aria-hidden="true"> · </span>
        <time dateTime={message.timestamp}>{format.time(message.timestamp)}</time>
        {reason && (
          <span data-testid="system-notice-reason" className="mt-0.5 block">
            {reason}
          </span>
        )}
      </p>
    </div>
  );
}
