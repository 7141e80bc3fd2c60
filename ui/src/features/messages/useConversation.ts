/**
 * One conversation's live state: first history page, older pages on demand, live
 * messages and statuses from the shell, and the actions the user can take on it.
 * `dmp://resync` (the event bridge lagged or the link came back) reloads the latest
 * page from the cache; merging keeps the older pages already shown.
 */
import { useCallback, useEffect, useReducer, useRef } from 'react';
import {
  commands,
  errorCode,
  events,
  useSubscription,
  type Attachment,
  type CloseReason,
  type ContextSummary,
  type ErrorCode,
  type QuestionCategory,
  type Session,
  type UiMessage,
} from '../../api';
import { sameContext } from '../contexts/useContexts';
import { conversationReducer, initialConversationState } from './conversationState';

export type OutgoingMessage = {
  content: string;
  isUrgent: boolean;
  requiresResponse: boolean;
  /** The patient's question category; always null from a doctor (the server refuses it). */
  category: QuestionCategory | null;
  attachments: Attachment[];
};

/** What a send attempt came to: queued by the client core, or refused before it was. */
export type SendResult = { ok: true } | { ok: false; code: ErrorCode };

export function useConversation(context: ContextSummary) {
  const [state, dispatch] = useReducer(conversationReducer, initialConversationState);
  const ref = { type: context.type, id: context.id };
  const contextType = context.type;
  const contextId = context.id;
  const stateRef = useRef(state);
  stateRef.current = state;

  const load = useCallback(async () => {
    try {
      const page = await commands.loadHistory({ contextType, contextId });
      dispatch({ type: 'loaded', page });
    } catch (caught) {
      dispatch({ type: 'loadFailed', code: errorCode(caught) });
    }
  }, [contextType, contextId]);

  useEffect(() => {
    void load();
  }, [load]);

  useSubscription(events.onMessage, (message) => {
    if (sameContext(message.context, ref)) dispatch({ type: 'upsert', message });
  });
  useSubscription(events.onStatus, (event) => dispatch({ type: 'status', event }));
  useSubscription(events.onResync, () => void load());

  const loadOlder = useCallback(async () => {
    const current = stateRef.current;
    if (!current.hasMore || current.loadingOlder || current.nextBefore === null) return;
    dispatch({ type: 'olderRequested' });
    // Mark synchronously so a burst of scroll events asks only once.
    stateRef.current = { ...current, loadingOlder: true };
    try {
      const page = await commands.loadHistory({ contextType, contextId, before: current.nextBefore });
      dispatch({ type: 'olderLoaded', page });
    } catch (caught) {
      dispatch({ type: 'olderFailed', code: errorCode(caught) });
    }
  }, [contextType, contextId]);

  const send = useCallback(
    async (outgoing: OutgoingMessage): Promise<SendResult> => {
      try {
        const message = await commands.sendMessage({
          contextType,
          contextId,
          content: outgoing.content,
          isUrgent: outgoing.isUrgent,
          requiresResponse: outgoing.requiresResponse,
          category: outgoing.category,
          attachmentIds: outgoing.attachments.map((a) => a.id),
        });
        dispatch({ type: 'sent', message });
        return { ok: true };
      } catch (caught) {
        // Refused before it was queued (read-only, invalid…): nothing to show in the
        // list; the composer gives the text back.
        return { ok: false, code: errorCode(caught) };
      }
    },
    [contextType, contextId],
  );

  /** Sends a failed / waiting message again with the same clientMessageId. */
  const retry = useCallback(async (message: UiMessage): Promise<SendResult> => {
    // Shown as sending at once. The command answers with a snapshot taken when the message
    // left, which can be older than the refusal event that followed it: like a first send's
    // answer ('sent'), it never turns a state already received back into "sending".
    dispatch({ type: 'upsert', message: { ...message, local: { state: 'sending' } } });
    try {
      dispatch({ type: 'sent', message: await commands.retrySend(message.clientMessageId) });
      return { ok: true };
    } catch (caught) {
      const code = errorCode(caught);
      // The client core no longer knows it: it cannot be sent from here any more.
      if (code === 'RETRY_UNKNOWN') dispatch({ type: 'discard', clientMessageId: message.clientMessageId });
      else dispatch({ type: 'upsert', message });
      return { ok: false, code };
    }
  }, []);

  const discard = useCallback(async (message: UiMessage): Promise<SendResult> => {
    try {
      await commands.discardSend(message.clientMessageId);
    } catch (caught) {
      const code = errorCode(caught);
      if (code !== 'RETRY_UNKNOWN') return { ok: false, code };
    }
    dispatch({ type: 'discard', clientMessageId: message.clientMessageId });
    return { ok: true };
  }, []);

  const remove = useCallback(async (message: UiMessage) => {
    const tombstone = await commands.deleteMessage(message.id);
    dispatch({ type: 'upsert', message: tombstone });
  }, []);

  /** One batched receipt; the ids stay unread here when it fails, so they are asked again. */
  const markRead = useCallback(async (messageIds: string[]): Promise<boolean> => {
    try {
      await commands.markRead(messageIds);
      dispatch({ type: 'markedRead', messageIds, at: new Date().toISOString() });
      return true;
    } catch {
      return false;
    }
  }, []);

  /**
   * Close, reopen or archive: the session the command returns is shown at once, before
   * the `dmp://inbox` event and the `system` message that follow.
   */
  const changeSession = useCallback(async (command: () => Promise<Session>): Promise<SendResult> => {
    try {
      dispatch({ type: 'session', session: await command() });
      return { ok: true };
    } catch (caught) {
      return { ok: false, code: errorCode(caught) };
    }
  }, []);
  const close = useCallback(
    (reason: CloseReason | null) => changeSession(() => commands.closeConversation({ contextType, contextId, reason })),
    [changeSession, contextType, contextId],
  );
  const reopen = useCallback(
    () => changeSession(() => commands.reopenConversation({ contextType, contextId })),
    [changeSession, contextType, contextId],
  );
  const archive = useCallback(
    () => changeSession(() => commands.archiveConversation({ contextType, contextId })),
    [changeSession, contextType, contextId],
  );

  return { state, reload: load, loadOlder, send, retry, discard, remove, markRead, close, reopen, archive };
}
