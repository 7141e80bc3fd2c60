/**
 * What the server's `system` messages say (docs/messaging.md, "Closing a conversation",
 * "Absence" and "Office hours"): the doctor closed the conversation, with an optional
 * reason code, or reopened it; or the patient who just wrote got an automatic answer —
 * the doctor is away (with the date of return), or it is outside the doctor's office
 * hours (with when they start again). The UI shows its own text from `metadata.system`;
 * the French `content` is only for an event this UI does not know.
 */
import type { CloseReason, SystemEvent, SystemEventKind, UiMessage } from '../../api';
import type { MessageKey, Translate } from '../../i18n';
import type { Formatters } from '../../i18n/format';

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
  absent: 'system.absent',
  outside_hours: 'system.outsideHours',
};

/**
 * The automatic answers, null for the other events (exhaustive: a new event does not
 * compile until it is said whether it is one): the patient's text, its second line (what
 * happens next, where to turn in an emergency), and the doctor's text; each given `{date}`.
 */
const AUTOMATIC_ANSWER: Record<SystemEventKind, { patient: MessageKey; help: MessageKey; doctor: MessageKey } | null> = {
  closed: null,
  reopened: null,
  absent: { patient: 'system.absent', help: 'system.absentHelp', doctor: 'system.absentDoctor' },
  outside_hours: { patient: 'system.outsideHours', help: 'system.outsideHoursHelp', doctor: 'system.outsideHoursDoctor' },
};

/** Whether the event is an automatic answer to the patient (absence, outside office hours), not a close or reopening. */
export function isAutomaticAnswer(event: SystemEvent | null | undefined): boolean {
  return !!event && !!AUTOMATIC_ANSWER[event.event];
}

/** The event a message carries: only a `system` message has one. */
export function systemEventOf(message: UiMessage): SystemEvent | null {
  return message.type === 'system' ? (message.metadata.system ?? null) : null;
}

/** The reason worth telling the patient: none for a reopening, nor for "other" (it says nothing). */
export function closeReasonOf(event: SystemEvent | null): CloseReason | null {
  if (!event || event.event !== 'closed' || !event.reason || event.reason === 'other') return null;
  return event.reason;
}

/**
 * The notice's text: the event and, for a close, its reason (null: no second line); for
 * an automatic answer, a second line that says what happens next and where to turn in
 * an emergency. The automatic answer is addressed to the patient (`meId` is its
 * recipient); the doctor sees that it was sent, and its date. An absent doctor's return
 * is a day ("20 mars 2025"); the next office hours are a day and a time ("17 mars 2025
 * à 09:00"), in the user's time zone, as the server computed them.
 */
export function systemNoticeText(
  message: UiMessage,
  t: Translate,
  format: Pick<Formatters, 'date' | 'time'>,
  meId: string,
): { title: string; reason: string | null; detail: string | null } {
  const event = systemEventOf(message);
  const answer = event ? AUTOMATIC_ANSWER[event.event] : null;
  if (event && answer && event.until) {
    const date =
      event.event === 'outside_hours'
        ? t('absence.when', { date: format.date(event.until), time: format.time(event.until) })
        : format.date(event.until);
    return message.recipient.id === meId
      ? { title: t(answer.patient, { date }), reason: null, detail: t(answer.help) }
      : { title: t(answer.doctor, { date }), reason: null, detail: null };
  }
  const label = event ? EVENT_LABEL[event.event] : undefined;
  // Unknown to this UI (an older message, a newer server), or an automatic answer
  // without its date: the server's own sentence.
  if (!event || !label || answer) return { title: message.content, reason: null, detail: null };
  const reason = closeReasonOf(event);
  return { title: t(label), reason: reason ? t(CLOSE_REASON_LABEL[reason]) : null, detail: null };
}

/** The notice read aloud when it arrives: its lines as one text. */
export function systemNoticeSpeech({ title, reason, detail }: { title: string; reason: string | null; detail: string | null }): string {
  let said = '';
  for (const part of [title, reason, detail]) {
    if (!part) continue;
    said = !said ? part : /[.!?]$/.test(said) ? `${said} ${part}` : `${said}. ${part}`;
  }
  return said;
}

/** The newest close or reopening among the messages loaded (in list order), if any; automatic answers do not count. */
export function latestSystemEvent(messages: UiMessage[]): SystemEvent | null {
  for (let i = messages.length - 1; i >= 0; i -= 1) {
    const event = systemEventOf(messages[i]!);
    if (event && (event.event === 'closed' || event.event === 'reopened')) return event;
  }
  return null;
}
