/**
 * The scrolling message list, grouped by day. Scrolling rules: stick to the bottom when
 * a message arrives and the reader is already there (or sent it), otherwise leave the
 * view alone and show a "Nouveaux messages" pill; when older pages are prepended, keep
 * the message under the reader's eyes where it was.
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

const LOAD_OLDER_PX = 120;

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

type Snapshot = { firstKey?: string; lastKey?: string; scrollHeight: number; scrollTop: number };

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
  const snapshot = useRef<Snapshot>({ scrollHeight: 0, scrollTop: 0 });
  const [newCount, setNewCount] = useState(0);
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

  const remember = (el: HTMLElement) => {
    snapshot.current = { ...snapshot.current, scrollHeight: el.scrollHeight, scrollTop: el.scrollTop };
  };

  const onScroll = () => {
    const el = scrollRef.current;
    if (!el) return;
    nearBottom.current = isNearBottom(el);
    remember(el);
    if (nearBottom.current) setNewCount(0);
    if (el.scrollTop < LOAD_OLDER_PX && hasMore && !loadingOlder) onLoadOlder();
  };

  useLayoutEffect(() => {
    const el = scrollRef.current;
    if (!el) return;
    const prev = snapshot.current;
    const firstKey = messages[0] ? messageKey(messages[0]) : undefined;
    const lastKey = messages.length > 0 ? messageKey(messages[messages.length - 1]!) : undefined;

    if (prev.lastKey === undefined) {
      // First render with content: start at the latest message.
      if (lastKey !== undefined) scrollToBottom(el);
    } else {
      const keys = messages.map(messageKey);
      const prevFirstIndex = prev.firstKey ? keys.indexOf(prev.firstKey) : -1;
      if (prevFirstIndex > 0) {
        // Older messages were put on top: shift by the height they added.
        el.scrollTop = prev.scrollTop + (el.scrollHeight - prev.scrollHeight);
      }
      const prevLastIndex = keys.indexOf(prev.lastKey);
      if (prevLastIndex !== -1 && prevLastIndex < keys.length - 1) {
        const added = messages.slice(prevLastIndex + 1);
        const fromOthers = added.filter((m) => m.sender.id !== meId);
        const ownMessage = added.some((m) => m.sender.id === meId);
        if (decideScroll({ nearBottom: nearBottom.current, ownMessage }) === 'stick') {
          scrollToBottom(el);
          nearBottom.current = true;
          setNewCount(0);
        } else if (fromOthers.length > 0) {
          setNewCount((c) => c + fromOthers.length);
        }
        if (fromOthers.length > 0) onIncomingRef.current(fromOthers);
      } else if (prevFirstIndex <= 0 && nearBottom.current && el.scrollHeight !== prev.scrollHeight) {
        // A bubble at the bottom changed size (a refusal with its reason, a state note):
        // a reader at the bottom keeps it in view.
        scrollToBottom(el);
      }
    }
    snapshot.current = { firstKey, lastKey, scrollHeight: el.scrollHeight, scrollTop: el.scrollTop };
  }, [messages, meId, scrollRef]);

  // Images (attachment previews) load after layout: keep a reader at the bottom there.
  useEffect(() => {
    const el = scrollRef.current;
    if (!el) return undefined;
    const onLoad = () => {
      if (!nearBottom.current) return;
      scrollToBottom(el);
      snapshot.current = { ...snapshot.current, scrollHeight: el.scrollHeight, scrollTop: el.scrollTop };
    };
    el.addEventListener('load', onLoad, true);
    return () => el.removeEventListener('load', onLoad, true);
  }, [scrollRef]);

  // Bring a search result into view.
  useLayoutEffect(() => {
    if (!highlightId) return;
    const target = Array.from(scrollRef.current?.querySelectorAll<HTMLElement>('[data-message-id]') ?? []).find(
      (el) => el.dataset.messageId === highlightId,
    );
    if (!target) return;
    target.scrollIntoView?.({ block: 'center', behavior: prefersReducedMotion() ? 'auto' : 'smooth' });
    target.focus({ preventScroll: true });
  }, [highlightId, scrollRef]);

  const jumpToLatest = useCallback(() => {
    const el = scrollRef.current;
    if (!el) return;
    scrollToBottom(el, true);
    nearBottom.current = true;
    setNewCount(0);
  }, [scrollRef]);

  const groups = groupByDay(messages, (iso) => dayKey(new Date(iso)));

  return (
    <div className="relative min-h-0 flex-1">
      <div
        ref={attachScroll}
        onScroll={onScroll}
        data-testid="message-scroll"
        className="h-full overflow-y-auto overscroll-contain bg-gradient-to-b from-slate-50 to-white px-3 py-3 sm:px-4"
        tabIndex={0}
        aria-label={t('messages.listLabel')}
        role="region"
      >
        {hasMore && (
          <div className="mb-2 flex justify-center">
            {loadingOlder ? (
              <Spinner label={t('messages.loadingOlder')} className="h-4 w-4 text-blue-600" />
            ) : (
              <button
                type="button"
                onClick={onLoadOlder}
                className="rounded-full bg-white px-3 py-1 text-xs font-medium text-blue-700 shadow-sm ring-1 ring-slate-200 hover:bg-blue-50 focus-visible:outline focus-visible:outline-2 focus-visible:outline-blue-600"
              >
                {t('messages.loadOlder')}
              </button>
            )}
          </div>
        )}
        {!hasMore && messages.length > 0 && <p className="mb-3 text-center text-xs text-slate-400">{t('messages.beginning')}</p>}

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
