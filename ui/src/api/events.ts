/**
 * Typed subscriptions to the events of docs/desktop-ipc.md. Each `onX` resolves to an
 * unsubscribe function; components use them through `useSubscription`.
 */
import { listen } from '@tauri-apps/api/event';
import type {
  ConnectionEvent,
  Message,
  Notification,
  OpenConversationEvent,
  PeerKeyChangedEvent,
  PresenceEvent,
  StatusEvent,
  TypingEvent,
  UnreadEvent,
} from './types';

export type EventPayloads = {
  'dmp://message': Message;
  'dmp://status': StatusEvent;
  'dmp://typing': TypingEvent;
  'dmp://presence': PresenceEvent;
  'dmp://notification': Notification;
  'dmp://connection': ConnectionEvent;
  'dmp://session-expired': null;
  'dmp://open-conversation': OpenConversationEvent;
  'dmp://unread': UnreadEvent;
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
export const onUnread = subscribe('dmp://unread');
export const onPeerKeyChanged = subscribe('dmp://peer-key-changed');
