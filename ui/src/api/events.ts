/**
 * Typed subscriptions to the events of docs/desktop-ipc.md. Each `onX` resolves to an
 * unsubscribe function; components use them through `useSubscription`.
 */
import { listen } from '@tauri-apps/api/event';
import type {
  ConnectionEvent,
  Inbox,
  Notification,
  OpenConversationEvent,
  PeerKeyChangedEvent,
  PresenceEvent,
  SessionEndedEvent,
  StatusEvent,
  TypingEvent,
  UiMessage,
} from './types';

export type EventPayloads = {
  'dmp://message': UiMessage;
  'dmp://status': StatusEvent;
  'dmp://typing': TypingEvent;
  'dmp://presence': PresenceEvent;
  'dmp://notification': Notification;
  'dmp://connection': ConnectionEvent;
  'dmp://session-expired': SessionEndedEvent;
  'dmp://open-conversation': OpenConversationEvent;
  /** The whole inbox after any change to counts or order (replaces `dmp://unread`). */
  'dmp://inbox': Inbox;
  /** The bridge lagged or the link came back: reload the open conversation. */
  'dmp://resync': null;
  'dmp://peer-key-changed': PeerKeyChangedEvent;
};

export type EventName = keyof EventPayloads;
export type Unsubscribe = () => void;
export type Subscribe<T> = (handler: (payload: T) => void) => Promise<Unsubscribe>;

function subscribe<K extends EventName>(name: K): Subscribe<EventPayloads[K]> {
  return async (handler) => {
    const unlisten = await listen<EventPayloads[K]>(name, (event) => handler(event.payload));
    return () => {
      // Unlistening after the IPC bridge is gone (window closing, test teardown) is harmless.
      void Promise.resolve()
        .then(unlisten)
        .catch(() => undefined);
    };
  };
}

export const onMessage = subscribe('dmp://message');
export const onStatus = subscribe('dmp://status');
export const onTyping = subscribe('dmp://typing');
export const onPresence = subscribe('dmp://presence');
export const onNotification = subscribe('dmp://notification');
export const onConnection = subscribe('dmp://connection');
export const onSessionExpired = subscribe('dmp://session-expired');
export const onOpenConversation = subscribe('dmp://open-conversation');
export const onInbox = subscribe('dmp://inbox');
export const onResync = subscribe('dmp://resync');
export const onPeerKeyChanged = subscribe('dmp://peer-key-changed');
