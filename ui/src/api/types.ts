/**
 * Data shapes of the desktop IPC contract (docs/desktop-ipc.md). The Rust types are the
 * single source: they are generated into ./generated (never edit those; after changing a
 * Rust type run `cargo run -p dmp-desktop --bin dmp-ipc-types`) and re-exported here,
 * next to the few types that exist only in the UI.
 */
import type { Message as WireMessage, Settings } from './generated';

export type {
  Attachment,
  ConnectionEvent,
  ConnectionState,
  ContextRef,
  ContextSummary,
  ContextType,
  HistoryPage,
  Inbox,
  Limits,
  MessageMetadata,
  MessageStatus,
  MessageType,
  Notification,
  OpenConversationEvent,
  Participant,
  PeerKeyChangedEvent,
  PresenceEvent,
  SearchHit,
  Session,
  SessionEndReason,
  SessionEndedEvent,
  SessionParticipants,
  SessionStatus,
  Settings,
  StatusEvent,
  TypingEvent,
  UnreadCount,
  User,
  UserType,
} from './generated';
/** The error payload of every command (`errors.ts` wraps it as the `CommandError` class). */
export type { CommandError as CommandErrorPayload } from './generated';

// ---- UI-only types ----

/**
 * A message as the window holds it: the wire message (with the client's `encrypted` /
 * `e2eError`) plus the shell's legacy client-side flags, until the client core sends
 * `UiMessage` with its `local` state (issue 11).
 */
export type Message = WireMessage & {
  /** In the outbox, not acknowledged yet. */
  pending?: boolean;
  /** Refused by the server. */
  failed?: boolean;
};

export type Language = Settings['language'];
export type ExportFormat = 'json' | 'html';

/** Legacy: `dmp://unread` is replaced by `dmp://inbox` (`Inbox.unreadTotal`). */
export type UnreadEvent = { total: number };
