/**
 * The scrolling message list, grouped by day. Scrolling rules: stick to the bottom when
 * a message arrives and the reader is already there (or sent it), otherwise leave the
 * view alone and show a "Nouveaux messages" pill; when messages are put on top of the
 * rendered ones or taken off it, keep the message under the reader's eyes where it was.
 *
 * Only a window of at most `MAX_RENDERED_MESSAGES` consecutive messages is in the page
 * (`messageWindow.ts`, docs/desktop-ipc.md "Message list window"): at the live end the
 * oldest bubbles leave the DOM as new ones come; scrolling up brings older ones back
 * (from memory, then `load_history` pages) and drops the newest, which come back when
 * the reader scrolls down ("Messages plus récents") or follows the pill.
 *
 * Older messages are shown only when the reader moves up to the top (a scroll event
 * whose position is above the last one we knew, near the top and away from the bottom),
 * or asks (the button), or a search jump needs them — never because a scroll event
 * happened to report a small `scrollTop` (see `onScroll`).
 */
import { useCallback, useEffect, useLayoutEffect, useRef, useState, type RefObject } from 'react';
import type { ErrorCode, UiMessage as Message } from '../../api';
import { useI18n } from '../../i18n';
import { dayKey } from '../../i18n/format';
import { Spinner } from '../../components/Spinner';
import { ArrowDownIcon } from '../../components/icons';
import { decideScroll, groupByDay, isNearBottom, messageKey } from './conversationState';
import { MessageBubble } from './MessageBubble';
import { needsReadReceipt } from './useMarkRead';
import {
  extendNewer,
  extendOlder,
  liveWindow,
  trimWindow,
  windowAround,
  windowRange,
  type MessageWindow,
} from './messageWindow';

/** Distance from the top under which an upward scroll shows older messages. */
export const LOAD_OLDER_PX = 120;
/** Distance from the bottom under which a downward scroll shows newer (windowed-out) messages. */
export const LOAD_NEWER_PX = 120;

type MessageListProps = {
  messages: Message[];
  meId: string;
  hasMore: boolean;
  loadingOlder: boolean;
  onLoadOlder: () => void;
  highlightId: string | null;
  onRetry: (message: Message) => void;
  onDiscard: (message: Message) => void;
  onDelete: (message: Message) => void;
  onDownloaded: (path: string) => void;
  onError: (code: ErrorCode) => void;
  /** Messages from the other participant that arrived while the list was open. */
  onIncoming: (messages: Message[]) => void;
  scrollRef: RefObject<HTMLDivElement | null>;
  /** Told when the scrolling element appears or goes (read receipts observe it). */
  onScrollElement?: (element: HTMLDivElement | null) => void;
};

/**
 * What the list looked like after its last update or scroll: the first and last
 * rendered messages, the keys of all loaded ones (to tell arrivals from pages put on
 * top) and the scroll geometry.
 */
type Snapshot = {
  firstKey?: string;
  lastKey?: string;
  oldestKey?: string;
  keys: Set<string>;
  scrollHeight: number;
  scrollTop: number;
};

/** Which end the reader last grew the window at: the other end is trimmed. */
type Growth = 'older' | 'newer' | null;

function prefersReducedMotion(): boolean {
  return typeof window.matchMedia === 'function' && window.matchMedia('(prefers-reduced-motion: reduce)').matches;
}

export function scrollToBottom(el: HTMLElement, smooth = false) {
  if (smooth && typeof el.scrollTo === 'function' && !prefersReducedMotion()) el.scrollTo({ top: el.scrollHeight, behavior: 'smooth' });
  else el.scrollTop = el.scrollHeight;
}

export function MessageList(props: MessageListProps) {
  const { messages, meId, hasMore, loadingOlder, onLoadOlder, highlightId, scrollRef } = props;
  const { t, format } = useI18n();
  const nearBottom = useRef(true);
  const snapshot = useRef<Snapshot>({ keys: new Set(), scrollHeight: 0, scrollTop: 0 });
  const [newCount, setNewCount] = useState(0);
  // Opened at the live end: the newest messages, at most the cap, from the first render on.
  const [win, setWin] = useState<MessageWindow>(() => liveWindow(messages));
  const growth = useRef<Growth>(null);
  /** Go to the bottom once the live end is rendered (pill, own send from an older window). */
  const bottomPending = useRef(false);
  /** The search result already brought into view. */
  const highlighted = useRef<string | null>(null);
  const onIncomingRef = useRef(props.onIncoming);
  onIncomingRef.current = props.onIncoming;
  const onScrollElementRef = useRef(props.onScrollElement);
  onScrollElementRef.current = props.onScrollElement;
  const attachScroll = useCallback(
    (element: HTMLDivElement | null) => {
      scrollRef.current = element;
      onScrollElementRef.current?.(element);
    },
    [scrollRef],
  );

  const range = windowRange(messages, win);
  const rendered = messages.slice(range.start, range.end);
  const live = range.end === messages.length;
  const canShowOlder = range.start > 0 || hasMore;

  const remember = (el: HTMLElement) => {
    snapshot.current = { ...snapshot.current, scrollHeight: el.scrollHeight, scrollTop: el.scrollTop };
  };

  /** Older messages: from memory while there are some above the window, else the next page. */
  const showOlder = () => {
    growth.current = 'older';
    if (range.start > 0) setWin(extendOlder(messages, win));
    else if (hasMore && !loadingOlder) {
      olderAsked.current = true;
      onLoadOlder();
    }
  };

  // The page asked for on the way up has arrived above the window: show it, as the
  // reader is still at the top (no further scroll event comes while they sit at 0).
  const olderAsked = useRef(false);
  useEffect(() => {
    if (!olderAsked.current || loadingOlder) return;
    olderAsked.current = false;
    const el = scrollRef.current;
    if (range.start > 0 && el && el.scrollTop < LOAD_OLDER_PX && !isNearBottom(el)) {
      growth.current = 'older';
      setWin((current) => extendOlder(messages, current));
    }
  }, [messages, loadingOlder, range.start, scrollRef]);

  const showNewer = () => {
    if (live) return;
    growth.current = 'newer';
    setWin(extendNewer(messages, win));
  };

  const onScroll = () => {
    const el = scrollRef.current;
    if (!el) return;
    const before = snapshot.current.scrollTop;
    nearBottom.current = isNearBottom(el);
    remember(el);
    if (nearBottom.current && live) setNewCount(0);
    // Back at the bottom: a page asked for on the way up no longer decides the trimmed end.
    if (nearBottom.current && growth.current === 'older') growth.current = null;
    // Only a move toward an end counts. A scroll event alone says nothing about the
    // reader: WebKit also fires one when we stick to the bottom, when a size change or
    // scroll anchoring moves the position, when the list is re-laid out — and the old
    // `scrollTop < LOAD_OLDER_PX` test let any of those that reported a small position
    // load a page, then another, while the reader sat at the bottom.
    const movedUp = el.scrollTop < before;
    const movedDown = el.scrollTop > before;
    // At the very top the reader can only be asking for more (WebKit fires no
    // movement there); the bottom of a short list is excluded by `nearBottom`.
    if ((movedUp || el.scrollTop === 0) && el.scrollTop < LOAD_OLDER_PX && !nearBottom.current) showOlder();
    else if (movedDown && !live && el.scrollHeight - el.scrollTop - el.clientHeight <= LOAD_NEWER_PX) showNewer();
  };

  useLayoutEffect(() => {
    const el = scrollRef.current;
    if (!el) return;
    const prev = snapshot.current;
    const firstKey = rendered[0] ? messageKey(rendered[0]) : undefined;
    const lastKey = rendered.length > 0 ? messageKey(rendered[rendered.length - 1]!) : undefined;
    const keys = new Set(messages.map(messageKey));

    if (prev.lastKey === undefined) {
      // First render with content: start at the latest message.
      if (lastKey !== undefined) scrollToBottom(el);
    } else {
      // Arrivals: messages not known before, below the oldest one known (older pages go above it).
      const oldestIndex = prev.oldestKey === undefined ? -1 : messages.findIndex((m) => messageKey(m) === prev.oldestKey);
      const added = messages.filter((m, i) => i > oldestIndex && !prev.keys.has(messageKey(m)));
      const topChanged = firstKey !== prev.firstKey;
      const bottomChanged = lastKey !== prev.lastKey;
      if (topChanged && !bottomChanged) {
        // Messages put on top of the rendered ones (a page, the window growing up) or taken
        // off it (the window trimmed at the top): shift by the height they added or removed.
        el.scrollTop = prev.scrollTop + (el.scrollHeight - prev.scrollHeight);
        if (growth.current === 'older') growth.current = null;
      }
      if (bottomChanged && growth.current === 'newer') growth.current = null;
      if (added.length > 0) {
        const fromOthers = added.filter((m) => m.sender.id !== meId);
        const ownMessage = added.some((m) => m.sender.id === meId);
        if (live && decideScroll({ nearBottom: nearBottom.current, ownMessage }) === 'stick') {
          growth.current = null;
          scrollToBottom(el);
          nearBottom.current = true;
          setNewCount(0);
        } else if (!live && ownMessage) {
          // Sent while reading far up: the reader wants to see it, at the live end.
          growth.current = null;
          bottomPending.current = true;
          setWin(liveWindow(messages));
          setNewCount(0);
        } else if (fromOthers.length > 0) {
          setNewCount((c) => c + fromOthers.length);
        }
        if (fromOthers.length > 0) onIncomingRef.current(fromOthers);
      } else if (!topChanged && live && nearBottom.current && el.scrollHeight !== prev.scrollHeight) {
        // A bubble at the bottom changed size (a refusal with its reason, a state note):
        // a reader at the bottom keeps it in view.
        scrollToBottom(el);
      }
    }
    if (bottomPending.current && live) {
      bottomPending.current = false;
      scrollToBottom(el);
      nearBottom.current = true;
    }
    snapshot.current = {
      firstKey,
      lastKey,
      oldestKey: messages[0] ? messageKey(messages[0]) : undefined,
      keys,
      scrollHeight: el.scrollHeight,
      scrollTop: el.scrollTop,
    };
    // Keep the page bounded: trim the end away from where the reader is.
    const atBottom = growth.current === 'newer' ? true : growth.current === 'older' ? false : nearBottom.current;
    const trimmed = trimWindow(messages, win, atBottom);
    if (trimmed) setWin(trimmed);
    // `rendered` and `live` derive from `messages` and `win`.
  }, [messages, win, meId, scrollRef]);

  // Images (attachment previews) load after layout: keep a reader at the bottom there.
  useEffect(() => {
    const el = scrollRef.current;
    if (!el) return undefined;
    const onLoad = () => {
      if (!nearBottom.current || bottomPending.current) return;
      scrollToBottom(el);
      remember(el);
    };
    el.addEventListener('load', onLoad, true);
    return () => el.removeEventListener('load', onLoad, true);
  }, [scrollRef]);

  // Bring a search result into view: first its part of the conversation into the window.
  const highlightIndex = highlightId ? messages.findIndex((m) => m.id === highlightId) : -1;
  useLayoutEffect(() => {
    if (!highlightId) {
      highlighted.current = null;
      return;
    }
    if (highlighted.current === highlightId || highlightIndex === -1) return;
    if (highlightIndex < range.start || highlightIndex >= range.end) {
      growth.current = null;
      setWin(windowAround(messages, highlightIndex));
      return;
    }
    const target = Array.from(scrollRef.current?.querySelectorAll<HTMLElement>('[data-message-id]') ?? []).find(
      (el) => el.dataset.messageId === highlightId,
    );
    if (!target) return;
    highlighted.current = highlightId;
    target.scrollIntoView?.({ block: 'center', behavior: prefersReducedMotion() ? 'auto' : 'smooth' });
    target.focus({ preventScroll: true });
    // `messages` matters only through a new index or range.
  }, [highlightId, highlightIndex, range.start, range.end, scrollRef]);

  const jumpToLatest = useCallback(() => {
    const el = scrollRef.current;
    if (!el) return;
    setNewCount(0);
    growth.current = null;
    if (live) {
      scrollToBottom(el, true);
      nearBottom.current = true;
    } else {
      bottomPending.current = true;
      setWin(liveWindow(messages));
    }
  }, [scrollRef, live, messages]);

  const groups = groupByDay(rendered, (iso) => dayKey(new Date(iso)));

  return (
    <div className="relative min-h-0 flex-1">
      <div
        ref={attachScroll}
        onScroll={onScroll}
        data-testid="message-scroll"
        className="h-full overflow-y-auto overscroll-contain [overflow-anchor:none] bg-gradient-to-b from-slate-50 to-white px-3 py-3 sm:px-4"
        tabIndex={0}
        aria-label={t('messages.listLabel')}
        role="region"
      >
        {canShowOlder && (
          <div className="mb-2 flex justify-center">
            {loadingOlder ? (
              <Spinner label={t('messages.loadingOlder')} className="h-4 w-4 text-blue-600" />
            ) : (
              <button
                type="button"
                onClick={showOlder}
                className="rounded-full bg-white px-3 py-1 text-xs font-medium text-blue-700 shadow-sm ring-1 ring-slate-200 hover:bg-blue-50 focus-visible:outline focus-visible:outline-2 focus-visible:outline-blue-600"
              >
                {t('messages.loadOlder')}
              </button>
            )}
          </div>
        )}
        {!canShowOlder && rendered.length > 0 && <p className="mb-3 text-center text-xs text-slate-400">{t('messages.beginning')}</p>}

        {groups.map((group) => {
          const label = format.dayLabel(group.first.timestamp);
          const text = label.kind === 'today' ? t('date.today') : label.kind === 'yesterday' ? t('date.yesterday') : label.text;
          return (
            <section key={group.day} aria-label={text} data-testid="day-group">
              <h3 className="sticky top-0 z-10 my-3 flex justify-center">
                <span className="rounded-full bg-white/90 px-3 py-0.5 text-xs font-medium text-slate-600 shadow-sm ring-1 ring-slate-200 backdrop-blur">
                  {text}
                </span>
              </h3>
              <ol className="space-y-2">
                {group.messages.map((message) => {
                  const own = message.sender.id === meId;
                  const unread = needsReadReceipt(message, meId);
                  return (
                    <li
                      key={messageKey(message)}
                      data-message-id={message.local ? undefined : message.id}
                      data-client-message-id={message.clientMessageId || undefined}
                      data-local={message.local?.state}
                      data-unread-id={unread ? message.id : undefined}
                      tabIndex={-1}
                      className="scroll-my-16 focus:outline-none"
                    >
                      <MessageBubble
                        message={message}
                        own={own}
                        meId={meId}
                        highlighted={highlightId !== null && message.id === highlightId}
                        onRetry={props.onRetry}
                        onDiscard={props.onDiscard}
                        onDelete={props.onDelete}
                        onDownloaded={props.onDownloaded}
                        onError={props.onError}
                      />
                    </li>
                  );
                })}
              </ol>
            </section>
          );
        })}
        {!live && (
          <div className="mt-2 flex justify-center">
            <button
              type="button"
              onClick={showNewer}
              data-testid="show-newer"
              className="rounded-full bg-white px-3 py-1 text-xs font-medium text-blue-700 shadow-sm ring-1 ring-slate-200 hover:bg-blue-50 focus-visible:outline focus-visible:outline-2 focus-visible:outline-blue-600"
            >
              {t('messages.newer')}
            </button>
          </div>
        )}
      </div>

      {newCount > 0 && (
        <button
          type="button"
          onClick={jumpToLatest}
          className="absolute bottom-3 left-1/2 z-20 inline-flex -translate-x-1/2 items-center gap-1.5 rounded-full bg-blue-600 px-4 py-1.5 text-sm font-semibold text-white shadow-lg hover:bg-blue-700 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-blue-600 motion-safe:animate-message-appear"
        >
          {t('messages.newPill')}
          <ArrowDownIcon className="h-4 w-4" />
          <span className="rounded-full bg-white/25 px-1.5 text-xs tabular-nums">
            <span aria-hidden="true">{newCount}</span>
            <span className="sr-only">{t('messages.newCount', { count: newCount })}</span>
          </span>
        </button>
      )}
    </div>
  );
}
