import { describe, expect, it } from 'vitest';
import { createFormatters, dayKey } from '../../i18n/format';
import { doctor, historyPage, localMessage, makeMessage, session, systemMessage } from '../../test/fixtures';
import {
  applyStatus,
  characterCount,
  conversationReducer,
  counterLevel,
  decideScroll,
  groupByDay,
  initialConversationState,
  isNearBottom,
  mergeMessages,
  newerSession,
  sessionAfterMessage,
  sortMessages,
} from './conversationState';

describe('groupByDay + day labels', () => {
  it('splits messages into local days labelled Aujourd’hui, Hier, then the full French date', () => {
    const now = new Date('2025-03-14T11:00:00+01:00');
    const messages = [
      makeMessage({ timestamp: '2025-03-10T08:15:00Z', content: 'Bonjour, une question sur la posologie' }),
      makeMessage({ timestamp: '2025-03-13T17:40:00Z', content: 'Faut-il le prendre pendant le repas ?' }),
      makeMessage({ timestamp: '2025-03-13T18:05:00Z', from: doctor, content: 'Oui, au milieu du repas.' }),
      // 23:30 UTC on the 13th is already the 14th in Paris.
      makeMessage({ timestamp: '2025-03-13T23:30:00Z', content: 'Merci docteur' }),
    ];
    const groups = groupByDay(messages, (iso) => dayKey(new Date(iso)));
    const fmt = createFormatters('fr');
    const labels = groups.map((g) => fmt.dayLabel(g.first.timestamp, now));
    expect(groups.map((g) => g.messages.length)).toEqual([1, 2, 1]);
    expect(labels).toEqual([{ kind: 'date', text: 'Lundi 10 mars 2025' }, { kind: 'yesterday' }, { kind: 'today' }]);
  });

  it('formats the full date in English when the language is English', () => {
    const label = createFormatters('en').dayLabel('2025-03-10T08:15:00Z', new Date('2025-03-14T11:00:00+01:00'));
    expect(label.kind).toBe('date');
    // ICU versions differ on the comma after the weekday.
    expect(label.kind === 'date' && label.text).toMatch(/^Monday,? 10 March 2025$/);
  });
});

describe('mergeMessages', () => {
  it('replaces the local copy with the acked message carrying the same clientMessageId', () => {
    const sending = localMessage('cm-42', 'Puis-je arrêter le traitement ?');
    const acked = makeMessage({ id: 'msg_9001', clientMessageId: 'cm-42', seq: 12, content: 'Puis-je arrêter le traitement ?' });
    const merged = mergeMessages([sending], [acked]);
    expect(merged).toHaveLength(1);
    expect(merged[0]).toMatchObject({ id: 'msg_9001', seq: 12 });
    expect(merged[0]!.local).toBeUndefined();
  });

  it('keeps the acked message when the local copy arrives after it (ack raced the command reply)', () => {
    const acked = makeMessage({ id: 'msg_9002', clientMessageId: 'cm-43', seq: 13, status: 'delivered' });
    const late = localMessage('cm-43', 'Bonjour docteur');
    const merged = mergeMessages([acked], [late]);
    expect(merged).toHaveLength(1);
    expect(merged[0]).toMatchObject({ id: 'msg_9002', status: 'delivered' });
    expect(merged[0]!.local).toBeUndefined();
  });

  it('moves a local message through its states in place (sending → slowedDown → failed → sending)', () => {
    let list = mergeMessages([], [localMessage('cm-1', 'un'), localMessage('cm-2', 'deux')]);
    list = mergeMessages(list, [localMessage('cm-1', 'un', { state: 'slowedDown', retryAt: '2025-03-14T09:00:05Z' })]);
    list = mergeMessages(list, [localMessage('cm-1', 'un', { state: 'failed', code: 'VALIDATION_FAILED', message: 'refusé' })]);
    expect(list.map((m) => [m.clientMessageId, m.local?.state])).toEqual([
      ['cm-1', 'failed'],
      ['cm-2', 'sending'],
    ]);
    list = mergeMessages(list, [localMessage('cm-1', 'un')]);
    expect(list.map((m) => m.clientMessageId)).toEqual(['cm-1', 'cm-2']);
  });

  it('de-duplicates by id and never lowers the status of a replayed message', () => {
    const read = makeMessage({ id: 'msg_1', seq: 1, status: 'read', readAt: '2025-03-14T09:10:00Z' });
    const replay = makeMessage({ id: 'msg_1', seq: 1, status: 'sent' });
    const merged = mergeMessages([read], [replay]);
    expect(merged).toHaveLength(1);
    expect(merged[0]!.status).toBe('read');
    expect(merged[0]!.readAt).toBe('2025-03-14T09:10:00Z');
  });

  it('orders acked messages by seq, whatever the arrival order, and local ones after them in the order written', () => {
    const list = sortMessages([
      makeMessage({ id: 'c', seq: 30 }),
      localMessage('p1', 'écrit en premier'),
      makeMessage({ id: 'a', seq: 10 }),
      // Written later but with an earlier clock: still after p1, never reordered.
      { ...localMessage('f1', 'écrit ensuite', { state: 'failed', code: 'VALIDATION_FAILED', message: 'refusé' }), timestamp: '2025-03-14T07:00:00Z' },
      localMessage('w1', 'en attente', { state: 'waitingForKeys', peerName: 'Dr Sophie Martin' }),
      makeMessage({ id: 'b', seq: 20 }),
    ]);
    expect(list.map((m) => (m.local ? m.clientMessageId : m.id))).toEqual(['a', 'b', 'c', 'p1', 'f1', 'w1']);
  });
});

describe('applyStatus', () => {
  it('moves status forward only: sent → delivered → read, never back', () => {
    let list = [makeMessage({ id: 'm1', status: 'sent' })];
    list = applyStatus(list, { messageId: 'm1', sessionId: 's', status: 'delivered', at: '2025-03-14T09:01:00Z' });
    expect(list[0]!.status).toBe('delivered');
    list = applyStatus(list, { messageId: 'm1', sessionId: 's', status: 'read', at: '2025-03-14T09:02:00Z' });
    expect(list[0]).toMatchObject({ status: 'read', readAt: '2025-03-14T09:02:00Z' });
    const after = applyStatus(list, { messageId: 'm1', sessionId: 's', status: 'delivered', at: '2025-03-14T09:03:00Z' });
    expect(after[0]!.status).toBe('read');
    expect(after).toBe(list);
  });
});

describe('conversationReducer', () => {
  it('drops a discarded local message', () => {
    const failed = localMessage('local-1', 'refusé', { state: 'failed', code: 'VALIDATION_FAILED', message: 'refusé' });
    let state = conversationReducer(initialConversationState, { type: 'upsert', message: failed });
    expect(state.messages[0]!.local?.state).toBe('failed');
    state = conversationReducer(state, { type: 'discard', clientMessageId: 'local-1' });
    expect(state.messages).toHaveLength(0);
  });

  it('marks a whole receipt batch read', () => {
    let state = conversationReducer(initialConversationState, {
      type: 'loaded',
      page: historyPage([makeMessage({ id: 'r1', from: doctor }), makeMessage({ id: 'r2', from: doctor }), makeMessage({ id: 'r3', from: doctor })]),
    });
    state = conversationReducer(state, { type: 'markedRead', messageIds: ['r1', 'r3'], at: '2025-03-14T10:00:00Z' });
    expect(state.messages.map((m) => m.status)).toEqual(['read', 'sent', 'read']);
  });

  it('keeps what is on screen when a reload after dmp://resync fails', () => {
    let state = conversationReducer(initialConversationState, { type: 'loaded', page: historyPage([makeMessage({ id: 'm1' })]) });
    state = conversationReducer(state, { type: 'loadFailed', code: 'CACHE_ERROR' });
    expect(state.status).toBe('ready');
    expect(state.messages).toHaveLength(1);
  });

  it('keeps live messages received while the first page was loading', () => {
    const live = makeMessage({ id: 'live', seq: 50 });
    let state = conversationReducer(initialConversationState, { type: 'upsert', message: live });
    state = conversationReducer(state, {
      type: 'loaded',
      page: { messages: [makeMessage({ id: 'old', seq: 49 })], hasMore: true, nextBefore: 49, session: null },
    });
    expect(state.messages.map((m) => m.id)).toEqual(['old', 'live']);
    expect(state).toMatchObject({ status: 'ready', hasMore: true, nextBefore: 49 });
  });
});

describe('composer counter', () => {
  it('counts an emoji as one character', () => {
    expect(characterCount('Merci 🙏')).toBe(7);
  });

  it('is orange near the limit, red at it, blocking over it', () => {
    expect(counterLevel(899, 1000)).toBe('ok');
    expect(counterLevel(900, 1000)).toBe('near');
    expect(counterLevel(1000, 1000)).toBe('limit');
    expect(counterLevel(1001, 1000)).toBe('over');
  });
});

describe('scrolling decisions', () => {
  it('sticks to the bottom only when the reader is there or sent the message', () => {
    expect(decideScroll({ nearBottom: true, ownMessage: false })).toBe('stick');
    expect(decideScroll({ nearBottom: false, ownMessage: true })).toBe('stick');
    expect(decideScroll({ nearBottom: false, ownMessage: false })).toBe('pill');
  });

  it('treats the last 80 px as "at the bottom"', () => {
    expect(isNearBottom({ scrollHeight: 2000, clientHeight: 500, scrollTop: 1420 })).toBe(true);
    expect(isNearBottom({ scrollHeight: 2000, clientHeight: 500, scrollTop: 1400 })).toBe(false);
  });
});

describe('sent snapshot', () => {
  it('never turns a refusal that arrived first back into "sending"', () => {
    const failed = localMessage('c1', 'trop long', { state: 'failed', code: 'VALIDATION_FAILED', message: 'refusé' });
    let state = conversationReducer(initialConversationState, { type: 'upsert', message: failed });
    state = conversationReducer(state, { type: 'sent', message: localMessage('c1', 'trop long') });
    expect(state.messages).toHaveLength(1);
    expect(state.messages[0]!.local).toEqual(failed.local);
  });

  it('inserts the snapshot when no event came first', () => {
    const state = conversationReducer(initialConversationState, { type: 'sent', message: localMessage('c2', 'bonjour') });
    expect(state.messages.map((m) => m.local?.state)).toEqual(['sending']);
  });
});

describe('the session’s status', () => {
  // lastSeq 3, active, last activity 2025-03-14T08:30:00Z.
  const base = session('ordonnance', 'ord_789');
  const loaded = () => conversationReducer(initialConversationState, { type: 'loaded', page: historyPage([makeMessage({ seq: 3 })]) });

  it('takes the newer copy: more messages first, then the later activity, the one received on a tie', () => {
    const closed = { ...base, status: 'closed' as const, lastSeq: 4 };
    const archived = { ...base, status: 'archived' as const, lastActivity: '2025-03-14T10:00:00Z' };
    expect(newerSession(base, closed)).toBe(closed);
    expect(newerSession(closed, base)).toBe(closed);
    expect(newerSession(base, archived)).toBe(archived);
    expect(newerSession(archived, base)).toBe(archived);
    const copy = { ...base };
    expect(newerSession(base, copy)).toBe(copy);
    expect(newerSession(null, base)).toBe(base);
    expect(newerSession(base, null)).toBe(base);
  });

  it('follows the system messages: closed, then active again once reopened', () => {
    let state = loaded();
    state = conversationReducer(state, { type: 'upsert', message: systemMessage({ event: 'closed', reason: 'answered' }, { seq: 4, timestamp: '2025-03-14T09:00:00Z' }) });
    expect(state.session).toMatchObject({ status: 'closed', lastSeq: 4, lastActivity: '2025-03-14T09:00:00Z' });
    // The same message again (history reload, ack) changes nothing.
    expect(sessionAfterMessage(state.session, systemMessage({ event: 'reopened' }, { seq: 4 }))).toBe(state.session);
    state = conversationReducer(state, { type: 'upsert', message: systemMessage({ event: 'reopened' }, { seq: 5 }) });
    expect(state.session?.status).toBe('active');
  });

  it('reactivates an archived session on a new message, as the server does, never a closed one', () => {
    const archived = { ...base, status: 'archived' as const };
    expect(sessionAfterMessage(archived, makeMessage({ seq: 4 }))?.status).toBe('active');
    expect(sessionAfterMessage(archived, localMessage('c', 'pas encore envoyé'))).toBe(archived);
    const closed = { ...base, status: 'closed' as const };
    expect(sessionAfterMessage(closed, makeMessage({ seq: 4, from: doctor }))?.status).toBe('closed');
  });

  it('keeps a live close when an older history page answers after it, and takes a command’s answer', () => {
    let state = loaded();
    state = conversationReducer(state, { type: 'upsert', message: systemMessage({ event: 'closed' }, { seq: 4 }) });
    state = conversationReducer(state, { type: 'loaded', page: historyPage([makeMessage({ seq: 3 })]) });
    expect(state.session?.status).toBe('closed');
    state = conversationReducer(state, { type: 'session', session: { ...base, status: 'active', lastSeq: 5, lastActivity: '2025-03-14T11:00:00Z' } });
    expect(state.session).toMatchObject({ status: 'active', lastSeq: 5 });
  });
});
