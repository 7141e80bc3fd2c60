/**
 * The message list keeps a bounded window of the conversation in the page
 * (messageWindow.ts) and loads older pages only when the reader moves up. jsdom has no
 * layout: the list gets a geometry that grows with the bubbles it holds and a
 * `scrollTop` clamped like a browser's, and scroll events are fired as WebKit fires them.
 */
import { act, fireEvent, screen, waitFor } from '@testing-library/react';
import { useState } from 'react';
import { describe, expect, it, vi } from 'vitest';
import type { HistoryPage, UiMessage } from '../../api';
import { deferred, emitEvent, mockBackend } from '../../test/ipc';
import { doctor, historyPage, makeMessage, ordonnance, patient, patientUser, session } from '../../test/fixtures';
import { installIntersectionObserver } from '../../test/intersection';
import { renderWithProviders } from '../../test/render';
import { MessageList } from './MessageList';
import { MAX_RENDERED_MESSAGES } from './messageWindow';
import { SecureMessaging } from './SecureMessaging';

const BUBBLE_PX = 40;
const VIEW_PX = 500;

/** A scrolling list whose content is `BUBBLE_PX` per rendered bubble (plus `extra`). */
function fakeScroller(el: HTMLElement, extra = 0) {
  let top = 0;
  const height = () => el.querySelectorAll('li').length * BUBBLE_PX + extra;
  Object.defineProperty(el, 'scrollHeight', { configurable: true, get: height });
  Object.defineProperty(el, 'clientHeight', { configurable: true, get: () => VIEW_PX });
  Object.defineProperty(el, 'scrollTop', {
    configurable: true,
    get: () => top,
    set: (value: number) => {
      top = Math.max(0, Math.min(value, height() - VIEW_PX));
    },
  });
}

/** The reader moves the list to `top`; the browser reports it with a scroll event. */
function scrollTo(el: HTMLElement, top: number) {
  el.scrollTop = top;
  fireEvent.scroll(el);
}

const fromDoctor = (seq: number, extra: Partial<UiMessage> = {}) =>
  makeMessage({ seq, id: `msg_${seq}`, from: doctor, status: 'read', content: `Message ${seq}`, ...extra });

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

const rendered = () => document.querySelectorAll('[data-message-id]').length;
const isRendered = (seq: number) => document.querySelector(`[data-message-id="msg_${seq}"]`) !== null;
const olderCalls = (backend: ReturnType<typeof mockBackend>) => backend.callsOf('load_history').filter((a) => a.before !== undefined);

async function open(handlers: Parameters<typeof mockBackend>[0]) {
  const backend = mockBackend(handlers);
  renderWithProviders(<SecureMessaging context={ordonnance} me={patientUser} onClose={vi.fn()} />);
  await waitFor(() => expect(screen.queryByText('Chargement des messages…')).not.toBeInTheDocument());
  return { backend, list: screen.getByTestId('message-scroll') };
}

describe('MessageList — older pages only when the reader moves up', () => {
  it('never loads older pages as messages, statuses and a resync arrive while the reader sits at the bottom', async () => {
    // A short conversation: at the bottom, scrollTop is still under LOAD_OLDER_PX.
    const first = historyPage([fromDoctor(11), fromDoctor(12), makeMessage({ seq: 13, content: 'Question' })], { hasMore: true, nextBefore: 11 });
    const { backend, list } = await open({ load_history: (args) => (args.before === undefined ? first : historyPage([])) });
    fakeScroller(list, 400);
    scrollTo(list, list.scrollHeight);
    expect(list.scrollTop).toBeLessThan(120);

    for (const seq of [14, 15, 16]) {
      await emitEvent('dmp://message', fromDoctor(seq, { status: 'delivered' }));
      // WebKit reports the stick to the bottom (and layout shifts) with scroll events.
      fireEvent.scroll(list);
      await emitEvent('dmp://status', { messageId: 'msg_13', sessionId: first.session!.id, status: 'delivered', at: '2025-03-14T10:00:00Z' });
      fireEvent.scroll(list);
    }
    await emitEvent('dmp://resync', null);
    await waitFor(() => expect(backend.callsOf('load_history')).toHaveLength(2));
    fireEvent.scroll(list);
    await new Promise((r) => setTimeout(r, 50));
    expect(olderCalls(backend)).toEqual([]);
    expect(isRendered(16)).toBe(true);

    // The reader moves up: now the page is asked for.
    scrollTo(list, 0);
    await waitFor(() => expect(olderCalls(backend)).toEqual([{ contextType: 'ordonnance', contextId: 'ord_789', before: 11 }]));
  });

  it('keeps the older cursor through a resync after older pages were loaded', async () => {
    const latest = historyPage(range(51, 100).map((s) => fromDoctor(s)), { hasMore: true, nextBefore: 51 });
    const { backend, list } = await open({
      load_history: (args) =>
        args.before === undefined ? latest : historyPage(range(1, 50).map((s) => fromDoctor(s)), { hasMore: true, nextBefore: 1 }),
    });
    fakeScroller(list);
    scrollTo(list, list.scrollHeight);
    scrollTo(list, 0);
    await waitFor(() => expect(isRendered(1)).toBe(true));
    await emitEvent('dmp://resync', null);
    await waitFor(() => expect(backend.callsOf('load_history')).toHaveLength(3));
    scrollTo(list, list.scrollHeight);
    scrollTo(list, 0);
    // Asks before the oldest loaded message, not the latest page's cursor again.
    await waitFor(() => expect(olderCalls(backend).map((a) => a.before)).toEqual([51, 1]));
  });
});

describe('MessageList — a bounded window over the conversation', () => {
  it(`keeps at most ${MAX_RENDERED_MESSAGES} bubbles as messages arrive, slides up from memory and back to the live end`, async () => {
    const N = MAX_RENDERED_MESSAGES;
    const { backend, list } = await open({ load_history: { value: historyPage(range(1, N - 10).map((s) => fromDoctor(s))) } });
    fakeScroller(list);
    scrollTo(list, list.scrollHeight);
    expect(rendered()).toBe(N - 10);

    for (const seq of range(N - 9, N + 10)) {
      await emitEvent('dmp://message', fromDoctor(seq));
      expect(rendered()).toBeLessThanOrEqual(MAX_RENDERED_MESSAGES);
    }
    // At the live end: the newest are in, the oldest went out, and can come back.
    expect(isRendered(N + 10)).toBe(true);
    expect(isRendered(5)).toBe(false);
    expect(list.scrollTop).toBe(list.scrollHeight - VIEW_PX);
    expect(screen.getByRole('button', { name: 'Afficher les messages précédents' })).toBeInTheDocument();
    expect(screen.queryByText('Début de la conversation')).not.toBeInTheDocument();

    // Up to the top: older ones from memory (no request), the newest leave the page.
    scrollTo(list, 0);
    await waitFor(() => expect(isRendered(1)).toBe(true));
    expect(rendered()).toBeLessThanOrEqual(MAX_RENDERED_MESSAGES);
    expect(isRendered(N + 10)).toBe(false);
    expect(olderCalls(backend)).toEqual([]);
    expect(screen.getByText('Début de la conversation')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Messages plus récents' })).toBeInTheDocument();
    // The position stays on what the reader was looking at: the added bubbles are above it.
    expect(list.scrollTop).toBeGreaterThan(0);

    // A message arrives while the reader is up there: not in the page, counted in the pill.
    await emitEvent('dmp://message', fromDoctor(N + 11));
    expect(isRendered(N + 11)).toBe(false);
    const pill = screen.getByRole('button', { name: /Nouveaux messages/ });
    expect(pill).toHaveTextContent('1');
    fireEvent.click(pill);
    await waitFor(() => expect(isRendered(N + 11)).toBe(true));
    expect(rendered()).toBeLessThanOrEqual(MAX_RENDERED_MESSAGES);
    expect(screen.queryByRole('button', { name: 'Messages plus récents' })).not.toBeInTheDocument();
    expect(list.scrollTop).toBe(list.scrollHeight - VIEW_PX);
  });

  it('stays bounded while the reader scrolls up through many pages, and scrolling down slides back to the live end', async () => {
    const page = (before: number): HistoryPage =>
      historyPage(range(Math.max(1, before - 50), before - 1).map((s) => fromDoctor(s)), { hasMore: before - 50 > 1, nextBefore: Math.max(1, before - 50) });
    const { backend, list } = await open({ load_history: (args) => page(typeof args.before === 'number' ? args.before : 501) });
    fakeScroller(list);
    scrollTo(list, list.scrollHeight);
    expect(isRendered(500)).toBe(true);

    for (let i = 1; i <= 6; i += 1) {
      scrollTo(list, 0);
      await waitFor(() => expect(olderCalls(backend)).toHaveLength(i));
      await waitFor(() => expect(screen.queryByText('Chargement des messages précédents…')).not.toBeInTheDocument());
      expect(rendered()).toBeLessThanOrEqual(MAX_RENDERED_MESSAGES);
      // The reader is not thrown back to the top: the page went above what they read.
      expect(list.scrollTop).toBeGreaterThanOrEqual(LOADED_SHIFT);
    }
    expect(olderCalls(backend).map((a) => a.before)).toEqual([451, 401, 351, 301, 251, 201]);
    expect(isRendered(151)).toBe(true);
    expect(isRendered(500)).toBe(false);

    for (let i = 0; i < 10 && screen.queryByRole('button', { name: 'Messages plus récents' }); i += 1) {
      scrollTo(list, list.scrollHeight);
      expect(rendered()).toBeLessThanOrEqual(MAX_RENDERED_MESSAGES);
    }
    expect(screen.queryByRole('button', { name: 'Messages plus récents' })).not.toBeInTheDocument();
    expect(isRendered(500)).toBe(true);
    expect(isRendered(151)).toBe(false);
    expect(olderCalls(backend)).toHaveLength(6);
  });

  it('brings a search result that is loaded but outside the window into the page', async () => {
    mockBackend({});
    const messages = range(1, 400).map((s) => fromDoctor(s));
    const props = {
      messages,
      meId: patientUser.id,
      hasMore: false,
      loadingOlder: false,
      onLoadOlder: vi.fn(),
      onRetry: vi.fn(),
      onDiscard: vi.fn(),
      onDelete: vi.fn(),
      onDownloaded: vi.fn(),
      onError: vi.fn(),
      onIncoming: vi.fn(),
      scrollRef: { current: null },
    };
    let setHighlight: (id: string | null) => void = () => undefined;
    function Harness() {
      const [highlightId, setHighlightId] = useState<string | null>(null);
      setHighlight = setHighlightId;
      return <MessageList {...props} highlightId={highlightId} />;
    }
    renderWithProviders(<Harness />);
    expect(isRendered(400)).toBe(true);
    expect(isRendered(5)).toBe(false);
    act(() => setHighlight('msg_5'));
    await waitFor(() => expect(isRendered(5)).toBe(true));
    expect(document.activeElement).toBe(document.querySelector('[data-message-id="msg_5"]'));
    expect(rendered()).toBeLessThanOrEqual(MAX_RENDERED_MESSAGES);
    expect(screen.getByRole('button', { name: 'Messages plus récents' })).toBeInTheDocument();
  });
});

describe('MessageList — read receipts and the window', () => {
  it('sends a receipt once for a message that leaves the page and comes back, and none for one never shown', async () => {
    const N = MAX_RENDERED_MESSAGES;
    installIntersectionObserver({ everythingVisible: true });
    const pending = deferred<null>();
    const { backend, list } = await open({
      load_history: { value: historyPage(range(1, N + 20).map((s) => fromDoctor(s, { status: 'delivered' }))) },
      mark_read: () => pending.promise,
    });
    fakeScroller(list);
    scrollTo(list, list.scrollHeight);
    const sent = () => backend.callsOf('mark_read').flatMap((a) => a.messageIds as string[]);
    await waitFor(() => expect(sent()).toHaveLength(MAX_RENDERED_MESSAGES));
    // Messages 1–20 were never in the page: not read.
    expect(sent()).not.toContain('msg_20');
    expect(sent()).toContain('msg_21');

    // While the receipts are in flight, the newest leave the page and come back.
    scrollTo(list, 0);
    await waitFor(() => expect(isRendered(1)).toBe(true));
    expect(isRendered(N + 20)).toBe(false);
    await waitFor(() => expect(sent()).toContain('msg_1'));
    for (let i = 0; i < 5 && !isRendered(N + 20); i += 1) scrollTo(list, list.scrollHeight);
    expect(isRendered(N + 20)).toBe(true);
    await new Promise((r) => setTimeout(r, 400));
    await act(async () => pending.resolve(null));

    const ids = sent();
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.sort()).toEqual(range(1, N + 20).map((s) => `msg_${s}`).sort());
  });
});

describe('MessageList — scrolling up past the window when the older pages come from the network', () => {
  const TOTAL = 500;
  const PAGE = 50;
  /** Ten minutes apart, over several days (the list groups them by day). */
  const timeOf = (seq: number) => new Date(Date.parse('2025-03-01T08:00:00Z') + seq * 600_000).toISOString();
  const conversation = { ...session('ordonnance', 'ord_789'), messageCount: TOTAL, lastSeq: TOTAL, lastActivity: timeOf(TOTAL) };
  /** Message `seq` as the shell sends it; every tenth one is the patient's own. */
  const stored = (seq: number): UiMessage => {
    const at = timeOf(seq);
    return seq % 10 === 0
      ? makeMessage({ seq, id: `msg_${seq}`, from: patient, status: 'delivered', content: `Question ${seq}`, timestamp: at, deliveredAt: at })
      : makeMessage({ seq, id: `msg_${seq}`, from: doctor, status: 'read', content: `Message ${seq}`, timestamp: at, deliveredAt: at, readAt: at });
  };
  /** `load_history` as the client core answers it: the 50 messages under `before`, oldest first; `nextBefore` is the oldest one's seq while older ones exist. */
  const historyBefore = (before: number): HistoryPage => {
    const from = Math.max(1, before - PAGE);
    const hasMore = from > 1;
    return { messages: range(from, before - 1).map(stored), hasMore, nextBefore: hasMore ? from : null, session: conversation };
  };
  const renderedSeqs = () => Array.from(document.querySelectorAll<HTMLElement>('[data-message-id]')).map((el) => Number(el.dataset.messageId!.slice('msg_'.length)));
  /** Where a bubble sits in the fake scroller's content (each rendered bubble is BUBBLE_PX high). */
  const offsetOf = (seq: number) => renderedSeqs().indexOf(seq) * BUBBLE_PX;

  it(`reaches the first of ${TOTAL} messages, each page shown when it arrives, the reader kept on what they read`, async () => {
    // Older pages are answered only when the test says so, well after the scroll that asked.
    const inFlight: { before: number; reply: ReturnType<typeof deferred<HistoryPage>> }[] = [];
    const { backend, list } = await open({
      load_history: (args) => {
        if (args.before === undefined) return historyBefore(TOTAL + 1);
        const reply = deferred<HistoryPage>();
        inFlight.push({ before: args.before as number, reply });
        return reply.promise;
      },
    });
    fakeScroller(list);
    scrollTo(list, list.scrollHeight);
    expect(renderedSeqs()).toEqual(range(451, 500));

    const seen: number[] = [];
    const windows: number[][] = [renderedSeqs()];
    // Own messages the doctor reads while the patient scrolls (one status event each).
    let readByDoctor = TOTAL;
    for (let step = 1; screen.queryByText('Début de la conversation') === null; step += 1) {
      expect(step).toBeLessThanOrEqual(TOTAL / PAGE);
      const before = renderedSeqs();
      const top = before[0]!;
      const asked = olderCalls(backend).length;
      if (step % 2 === 1) {
        // The reader moves to the very top; the browser reports it with a scroll event.
        scrollTo(list, 0);
      } else {
        // The reader moves to the very top, but before the browser dispatches the scroll
        // event (once a frame) a status event re-renders the list, which records the new
        // position: the event then reports no movement, only that the reader is at 0.
        list.scrollTop = 0;
        await emitEvent('dmp://status', { messageId: `msg_${readByDoctor}`, sessionId: conversation.id, status: 'read', at: timeOf(TOTAL + 1) });
        readByDoctor -= 10;
        fireEvent.scroll(list);
      }
      await waitFor(() => expect(olderCalls(backend)).toHaveLength(asked + 1));
      expect(olderCalls(backend)[asked]).toEqual({ contextType: 'ordonnance', contextId: 'ord_789', before: top });
      expect(screen.getByText('Chargement des messages précédents…')).toBeInTheDocument();
      // Still at the top while the page is on its way: asked once, nothing shown yet.
      fireEvent.scroll(list);
      await new Promise((r) => setTimeout(r, 20));
      expect(olderCalls(backend)).toHaveLength(asked + 1);
      expect(renderedSeqs()).toEqual(before);

      // The page arrives; no scroll event follows.
      const { before: cursor, reply } = inFlight.shift()!;
      await act(async () => reply.resolve(historyBefore(cursor)));
      await waitFor(() => expect(renderedSeqs()[0]).toBe(top - PAGE));
      const now = renderedSeqs();
      expect(now).toEqual(range(top - PAGE, Math.min(500, top - PAGE + MAX_RENDERED_MESSAGES - 1)));
      // The bubble that was at the top of the view is still there: the page went above it.
      expect(list.scrollTop).toBe(offsetOf(top));
      expect(list.scrollTop).toBe(PAGE * BUBBLE_PX);
      windows.push(now);
    }

    // At the first message: nothing more is asked, however often the reader is at the top.
    expect(renderedSeqs()[0]).toBe(1);
    scrollTo(list, 0);
    fireEvent.scroll(list);
    await new Promise((r) => setTimeout(r, 20));
    expect(olderCalls(backend).map((a) => a.before)).toEqual(range(1, TOTAL / PAGE - 1).map((i) => TOTAL + 1 - i * PAGE));
    expect(inFlight).toEqual([]);
    // Every window was in order with no gap, and together they held each message once.
    for (const w of windows) {
      expect(w).toEqual(range(w[0]!, w[w.length - 1]!));
      expect(w.length).toBeLessThanOrEqual(MAX_RENDERED_MESSAGES);
      for (const seq of w) if (!seen.includes(seq)) seen.push(seq);
    }
    expect(seen.sort((a, b) => a - b)).toEqual(range(1, TOTAL));
    expect(windows.map((w) => w[0])).toEqual(range(0, TOTAL / PAGE - 1).map((i) => TOTAL + 1 - (i + 1) * PAGE));
  });
});

/** The least a prepend of a page moves the position down (bubbles added above the reader). */
const LOADED_SHIFT = BUBBLE_PX;
