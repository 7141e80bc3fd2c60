/**
 * One conversation's live state: first history page, older pages on demand, live
 * messages and statuses from the shell, and the actions the user can take on it.
 */
import { useCallback, useEffect, useReducer, useRef } from 'react';
import {
  commands,
  errorCode,
  events,
  useSubscription,
  type Attachment,
  type ContextSummary,
  type Message,
  type User,
} from '../../api';
import { sameContext, peerOf } from '../contexts/useContexts';
import { conversationReducer, initialConversationState } from './conversationState';

export type OutgoingMessage = {
  content: string;
  isUrgent: boolean;
  requiresResponse: boolean;
  attachments: Attachment[];
};

function localId(): string {
  if (typeof crypto !== 'undefined' && typeof crypto.randomUUID === 'function') return `local-${crypto.randomUUID()}`;
  return `local-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

export function useConversation(context: ContextSummary, me: User) {
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
    async (outgoing: OutgoingMessage): Promise<boolean> => {
      try {
        const message = await commands.sendMessage({
          contextType,
          contextId,
          content: outgoing.content,
          isUrgent: outgoing.isUrgent,
          requiresResponse: outgoing.requiresResponse,
          attachmentIds: outgoing.attachments.map((a) => a.id),
        });
        dispatch({ type: 'upsert', message });
        return true;
      } catch (caught) {
        const sender = { id: me.id, type: me.type, name: me.name };
        const failed: Message = {
          id: '',
          clientMessageId: localId(),
          content: outgoing.content,
          type: outgoing.attachments.length > 0 ? 'file' : 'text',
          sender,
          recipient: peerOf(context, me),
          context: { type: contextType, id: contextId },
          timestamp: new Date().toISOString(),
          status: 'sent',
          attachments: outgoing.attachments,
          metadata: { isUrgent: outgoing.isUrgent, requiresResponse: outgoing.requiresResponse },
          sessionId: context.session?.id ?? '',
          seq: 0,
          failed: true,
        };
        dispatch({ type: 'sendFailed', message: failed, code: errorCode(caught) });
        return false;
      }
    },
    [contextType, contextId, context, me],
  );

  const retry = useCallback(
    async (message: Message) => {
      dispatch({ type: 'discard', clientMessageId: message.clientMessageId });
      return send({
        content: message.content,
        isUrgent: message.metadata.isUrgent,
        requiresResponse: message.metadata.requiresResponse,
        attachments: message.attachments,
      });
    },
    [send],
  );

  const remove = useCallback(async (message: Message) => {
    const tombstone = await commands.deleteMessage(message.id);
    dispatch({ type: 'upsert', message: tombstone });
  }, []);

  const markRead = useCallback(async (messageId: string): Promise<boolean> => {
    try {
      await commands.markRead(messageId);
      dispatch({ type: 'markedRead', messageId, at: new Date().toISOString() });
      return true;
    } catch {
      // Not fatal: it is asked again the next time the message is seen.
      return false;
    }
  }, []);

  return { state, reload: load, loadOlder, send, retry, remove, markRead };
}
