/**
 * What the server's `system` messages say (docs/messaging.md, "Closing a conversation"):
 * the doctor closed the conversation, with an optional reason code, or reopened it. The
 * UI shows its own text from `metadata.system`; the French `content` is only for an
 * event this UI does not know.
 */
import type { CloseReason, SystemEvent, SystemEventKind, UiMessage } from '../../api';
import type { MessageKey, Translate } from '../../i18n';

/** The label of each close reason (exhaustive: a new backend reason does not compile until named). */
export const CLOSE_REASON_LABEL: Record<CloseReason, MessageKey> = {
  answered: 'closeReason.answered',
  consultation: 'closeReason.consultation',
  contact_practice: 'closeReason.contact_practice',
  other: 'closeReason.other',
};

/** Every reason, in the order the doctor's menu offers them. */
export const CLOSE_REASONS = Object.keys(CLOSE_REASON_LABEL) as CloseReason[];

export function isCloseReason(value: string): value is CloseReason {
  return Object.prototype.hasOwnProperty.call(CLOSE_REASON_LABEL, value);
}

const EVENT_LABEL: Record<SystemEventKind, MessageKey> = {
  closed: 'system.closed',
  reopened: 'system.reopened',
};

/** The event a message carries: only a `system` message has one. */
export function systemEventOf(message: UiMessage): SystemEvent | null {
  return message.type === 'system' ? (message.metadata.system ?? null) : null;
}

/** The reason worth telling the patient: none for a reopening, nor for "other" (it says nothing). */
export function closeReasonOf(event: SystemEvent | null): CloseReason | null {
  if (!event || event.event !== 'closed' || !event.reason || event.reason === 'other') return null;
  return event.reason;
}

/** The notice's text: the event and, for a close, its reason (null: no second line). */
export function systemNoticeText(message: UiMessage, t: Translate): { title: string; reason: string | null } {
  const event = systemEventOf(message);
  const label = event ? EVENT_LABEL[event.event] : undefined;
  // Unknown to this UI (an older message, a newer server): the server's own sentence.
  if (!event || !label) return { title: message.content, reason: null };
  const reason = closeReasonOf(event);
  return { title: t(label), reason: reason ? t(CLOSE_REASON_LABEL[reason]) : null };
}

/** The newest close or reopening among the messages loaded (in list order), if any. */
export function latestSystemEvent(messages: UiMessage[]): SystemEvent | null {
  for (let i = messages.length - 1; i >= 0; i -= 1) {
    const event = systemEventOf(messages[i]!);
    if (event) return event;
  }
  return null;
}
