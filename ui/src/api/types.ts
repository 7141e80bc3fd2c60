/**
 * Data shapes of the desktop IPC contract (docs/desktop-ipc.md). The Rust types are the
 * single source: they are generated into ./generated (never edit those; after changing a
 * Rust type run `cargo run -p dmp-desktop --bin dmp-ipc-types`) and re-exported here,
 * next to the few types that exist only in the UI.
 */
import type { Settings } from './generated';

export type {
  Absence,
  AccessAction,
  AccessLogEntry,
  AccessLogResponse,
  Attachment,
  AwaitingAnswer,
  CloseReason,
  ConnectionEvent,
  ConnectionState,
  ContextRef,
  ContextSummary,
  ContextType,
  HistoryPage,
  Inbox,
  LastLogin,
  LocalState,
  Message,
  Limits,
  MessageMetadata,
  MessageStatus,
  MessageType,
  Notification,
  OfficeHours,
  OfficeSlot,
  OpenConversationEvent,
  Participant,
  PeerKeyChangedEvent,
  PresenceEvent,
  QuestionCategory,
  ReplyTemplate,
  SearchHit,
  Session,
  SessionEndReason,
  SessionEndedEvent,
  SessionParticipants,
  SessionStatus,
  Settings,
  SignedIn,
  StatusEvent,
  SystemEvent,
  SystemEventKind,
  TypingEvent,
  UiMessage,
  UnreadCount,
  User,
  UserType,
  Weekday,
} from './generated';
/** The error payload of every command (`errors.ts` wraps it as the `CommandError` class). */
export type { CommandError as CommandErrorPayload } from './generated';

// ---- UI-only types ----

export type Language = Settings['language'];
export type ExportFormat = 'json' | 'html';
