/**
 * The state of one open conversation as a pure reducer, so that the delicate rules are
 * unit-tested without React: merge by `id` or `clientMessageId` (an ack replaces the
 * local copy, never the other way round), order by `seq` with local (unacknowledged)
 * messages last in the order they were written — never reordered —, statuses only move
 * forward (sent < delivered < read). The session's status follows what the messages
 * tell (a `system` message closes or reopens it, a new message reactivates an archived
 * one) and whichever copy of the session is newest.
 */
import type { ErrorCode, HistoryPage, LocalState, MessageStatus, Session, StatusEvent, UiMessage } from '../../api';

type Message = UiMessage;

export type ConversationState = {
  messages: Message[];
  hasMore: boolean;
  nextBefore: number | null;
  session: Session | null;
  status: 'loading' | 'ready' | 'error';
  error: ErrorCode | null;
  loadingOlder: boolean;
  olderError: ErrorCode | null;
};

export type ConversationAction =
  | { type: 'loaded'; page: HistoryPage }
  | { type: 'loadFailed'; code: ErrorCode }
  | { type: 'olderRequested' }
  | { type: 'olderLoaded'; page: HistoryPage }
  | { type: 'olderFailed'; code: ErrorCode }
  | { type: 'upsert'; message: Message }
  /** `send_message`'s answer: a snapshot that events about the same message may have overtaken. */
  | { type: 'sent'; message: Message }
  /** A close, reopen or archive command's answer: the session as the server left it. */
  | { type: 'session'; session: Session }
  | { type: 'status'; event: StatusEvent }
  | { type: 'discard'; clientMessageId: string }
  | { type: 'markedRead'; messageIds: string[]; at: string };

export const initialConversationState: ConversationState = {
  messages: [],
  hasMore: false,
  nextBefore: null,
  session: null,
  status: 'loading',
  error: null,
  loadingOlder: false,
  olderError: null,
};

const STATUS_RANK: Record<MessageStatus, number> = { sent: 0, delivered: 1, read: 2 };

export function statusRank(status: MessageStatus): number {
  return STATUS_RANK[status];
}

export function laterStatus(a: MessageStatus, b: MessageStatus): MessageStatus {
  return STATUS_RANK[b] > STATUS_RANK[a] ? b : a;
}

/** Stable identity across the pending → acked transition. */
export function messageKey(message: Message): string {
  return message.clientMessageId || message.id;
}

/** Not acknowledged by the server yet (sending, waiting for keys, slowed down or failed). */
export function isUnsent(message: Message): boolean {
  return message.local !== undefined;
}

export type LocalStateName = LocalState['state'];

function sameMessage(a: Message, b: Message): boolean {
  if (a.id && b.id && a.id === b.id) return true;
  return Boolean(a.clientMessageId && b.clientMessageId && a.clientMessageId === b.clientMessageId);
}

/**
 * Acked messages by seq (then time), unsent ones after them in the order they were
 * written: the sort is stable and never compares two local messages, so a failed or
 * slowed-down message keeps its place among the other local ones.
 */
export function sortMessages(messages: Message[]): Message[] {
  return [...messages].sort((a, b) => {
    const unsent = Number(isUnsent(a)) - Number(isUnsent(b));
    if (unsent !== 0) return unsent;
    if (isUnsent(a)) return 0;
    if (a.seq !== b.seq) return a.seq - b.seq;
    return Date.parse(a.timestamp) - Date.parse(b.timestamp);
  });
}

/** Combines what we had with a newer copy of the same message. */
export function combine(existing: Message, incoming: Message): Message {
  // The ack may arrive before `send_message` resolves with the local copy: keep the ack.
  if (!isUnsent(existing) && isUnsent(incoming)) return existing;
  const status = laterStatus(existing.status, incoming.status);
  return {
    ...incoming,
    status,
    deliveredAt: incoming.deliveredAt ?? existing.deliveredAt,
    readAt: incoming.readAt ?? existing.readAt,
    deletedAt: incoming.deletedAt ?? existing.deletedAt,
  };
}

export function mergeMessages(current: Message[], incoming: Message[]): Message[] {
  const next = [...current];
  for (const message of incoming) {
    const index = next.findIndex((m) => sameMessage(m, message));
    if (index === -1) next.push(message);
    else next[index] = combine(next[index]!, message);
  }
  return sortMessages(next);
}

export function applyStatus(messages: Message[], event: StatusEvent): Message[] {
  let changed = false;
  const next = messages.map((m) => {
    if (m.id !== event.messageId || statusRank(event.status) <= statusRank(m.status)) return m;
    changed = true;
    return {
      ...m,
      status: event.status,
      deliveredAt: event.status === 'sent' ? m.deliveredAt : (m.deliveredAt ?? event.at),
      readAt: event.status === 'read' ? event.at : m.readAt,
    };
  });
  return changed ? next : messages;
}

/**
 * The newer of two copies of a session: more messages (`lastSeq`) first, then the later
 * `lastActivity` (an archive changes no `seq`); on a tie the second, the one just received.
 */
export function newerSession(a: Session | null, b: Session | null): Session | null {
  if (!a) return b;
  if (!b) return a;
  if (a.lastSeq !== b.lastSeq) return a.lastSeq > b.lastSeq ? a : b;
  return Date.parse(a.lastActivity) > Date.parse(b.lastActivity) ? a : b;
}

/**
 * The session after a message it did not count yet, as the server changed it: a `system`
 * message closes or reopens it; any other new message makes an archived session active
 * again (docs/messaging.md). Unsent messages and known ones change nothing.
 */
export function sessionAfterMessage(session: Session | null, message: Message): Session | null {
  if (!session || isUnsent(message) || message.sessionId !== session.id || message.seq <= session.lastSeq) return session;
  let status = session.status;
  const event = message.type === 'system' ? message.metadata.system?.event : undefined;
  if (event === 'closed') status = 'closed';
  else if (event === 'reopened') status = 'active';
  else if (message.type !== 'system' && status === 'archived') status = 'active';
  const lastActivity = Date.parse(message.timestamp) > Date.parse(session.lastActivity) ? message.timestamp : session.lastActivity;
  return { ...session, status, lastSeq: message.seq, messageCount: session.messageCount + 1, lastActivity };
}

/** Lowest `seq` among acknowledged messages, or null. */
function oldestSeq(messages: Message[]): number | null {
  let oldest: number | null = null;
  for (const m of messages) if (!isUnsent(m) && (oldest === null || m.seq < oldest)) oldest = m.seq;
  return oldest;
}

/** Whether `held` goes further back than `page`. */
function holdsOlder(held: Message[], page: Message[]): boolean {
  const heldOldest = oldestSeq(held);
  const pageOldest = oldestSeq(page);
  return heldOldest !== null && (pageOldest === null || heldOldest < pageOldest);
}

export function conversationReducer(state: ConversationState, action: ConversationAction): ConversationState {
  switch (action.type) {
    case 'loaded': {
      // A reload (resync) brings the latest page again: when older pages are already
      // held, the cursor stays before the oldest of them — the latest page's cursor would
      // make the next "older" request fetch what is already on screen.
      const keepCursor = state.status === 'ready' && holdsOlder(state.messages, action.page.messages);
      return {
        ...state,
        status: 'ready',
        error: null,
        messages: mergeMessages(state.messages, action.page.messages),
        hasMore: keepCursor ? state.hasMore : action.page.hasMore,
        nextBefore: keepCursor ? state.nextBefore : action.page.nextBefore,
        // A page asked for before a live close can answer after it.
        session: newerSession(state.session, action.page.session),
      };
    }
    case 'loadFailed':
      // A failed reload (resync) keeps what is on screen.
      return { ...state, status: state.status === 'ready' ? 'ready' : 'error', error: action.code };
    case 'olderRequested':
      return { ...state, loadingOlder: true, olderError: null };
    case 'olderLoaded':
      return {
        ...state,
        loadingOlder: false,
        messages: mergeMessages(state.messages, action.page.messages),
        hasMore: action.page.hasMore,
        nextBefore: action.page.nextBefore,
        session: newerSession(state.session, action.page.session),
      };
    case 'olderFailed':
      return { ...state, loadingOlder: false, olderError: action.code };
    case 'upsert':
      return {
        ...state,
        messages: mergeMessages(state.messages, [action.message]),
        session: sessionAfterMessage(state.session, action.message),
      };
    case 'sent': {
      // The refusal (or a new state) can come as an event before the command answers:
      // the event is newer, so a local snapshot never replaces a copy we already hold.
      const known = state.messages.some((m) => sameMessage(m, action.message));
      if (known && isUnsent(action.message)) return state;
      return {
        ...state,
        messages: mergeMessages(state.messages, [action.message]),
        session: sessionAfterMessage(state.session, action.message),
      };
    }
    case 'session':
      return { ...state, session: newerSession(state.session, action.session) };
    case 'status': {
      const messages = applyStatus(state.messages, action.event);
      return messages === state.messages ? state : { ...state, messages };
    }
    case 'discard':
      return { ...state, messages: state.messages.filter((m) => m.clientMessageId !== action.clientMessageId) };
    case 'markedRead': {
      let messages = state.messages;
      for (const messageId of action.messageIds) {
        messages = applyStatus(messages, { messageId, sessionId: '', status: 'read', at: action.at });
      }
      return messages === state.messages ? state : { ...state, messages };
    }
  }
}

/** Messages of one local calendar day, in order. */
export type DayGroup = { day: string; first: Message; messages: Message[] };

export function groupByDay(messages: Message[], dayOf: (iso: string) => string): DayGroup[] {
  const groups: DayGroup[] = [];
  for (const message of messages) {
    const day = dayOf(message.timestamp);
    const last = groups[groups.length - 1];
    if (last && last.day === day) last.messages.push(message);
    else groups.push({ day, first: message, messages: [message] });
  }
  return groups;
}

/** Code points, not UTF-16 units: an emoji counts as one character, as users expect. */
export function characterCount(text: string): number {
  return [...text].length;
}

export type CounterLevel = 'ok' | 'near' | 'limit' | 'over';

export function counterLevel(count: number, max: number): CounterLevel {
  if (count > max) return 'over';
  if (count === max) return 'limit';
  if (count >= Math.floor(max * 0.9)) return 'near';
  return 'ok';
}

/** What the list should do when messages were appended at the bottom. */
export function decideScroll({ nearBottom, ownMessage }: { nearBottom: boolean; ownMessage: boolean }): 'stick' | 'pill' {
  return nearBottom || ownMessage ? 'stick' : 'pill';
}

export const NEAR_BOTTOM_PX = 80;

export function isNearBottom(el: { scrollHeight: number; scrollTop: number; clientHeight: number }): boolean {
  return el.scrollHeight - el.scrollTop - el.clientHeight <= NEAR_BOTTOM_PX;
}
