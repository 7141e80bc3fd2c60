/**
 * Data shapes of the desktop IPC contract (docs/desktop-ipc.md), mirroring the wire
 * types of `protocol/src/model.rs` and `protocol/src/api.rs`. camelCase, as on the wire.
 * Written by hand with exactly the names of the issue-11 contract until the types
 * generated from Rust (ts-rs, `ui/src/api/generated/`) replace this file's content:
 * keep it declarations only.
 */

export type UserType = 'patient' | 'medecin' | 'admin';
export type ContextType = 'ordonnance' | 'examen';

export type User = { id: string; type: UserType; name: string; username: string };
export type Participant = { id: string; type: UserType; name: string };

export type Attachment = {
  id: string;
  name: string;
  mimeType: string;
  size: number;
  sha256: string;
};

export type MessageStatus = 'sent' | 'delivered' | 'read';
export type MessageType = 'text' | 'image' | 'file' | 'voice' | 'system';

/** A conversation is addressed by the DMP record it is about. */
export type ContextRef = { type: ContextType; id: string };

export type Message = {
  id: string;
  content: string;
  type: MessageType;
  sender: Participant;
  recipient: Participant;
  context: ContextRef;
  timestamp: string;
  status: MessageStatus;
  attachments: Attachment[];
  metadata: { isUrgent: boolean; requiresResponse: boolean };
  clientMessageId: string;
  sessionId: string;
  seq: number;
  deliveredAt?: string;
  readAt?: string;
  deletedAt?: string;
};

/** Where an own message stands while the server has not acknowledged it. */
export type LocalState =
  | { state: 'sending' }
  /** The peer never signed in: there are no keys to encrypt for yet. */
  | { state: 'waitingForKeys'; peerName: string }
  /** Rate-limited: kept in order and retried automatically at `retryAt`. */
  | { state: 'slowedDown'; retryAt: string }
  /** Refused for good; `retry_send` keeps the clientMessageId. */
  | { state: 'failed'; code: string; message: string };

/** A message as the window gets it: the wire Message plus client-side fields. */
export type UiMessage = Message & {
  /** Set by the Rust client: `true` for an end-to-end envelope, `false` for clear text (absent: not known yet). */
  encrypted?: boolean;
  /** Set by the Rust client when an envelope failed a check (e.g. `E2E_BAD_SIGNATURE`); content is then empty. */
  e2eError?: string;
  /** Present only while the server has not acknowledged the message. */
  local?: LocalState;
};

export type SessionStatus = 'active' | 'archived' | 'closed';

export type Session = {
  id: string;
  contextType: ContextType;
  contextId: string;
  participants: { patient: Participant; doctor: Participant };
  status: SessionStatus;
  createdAt: string;
  lastActivity: string;
  messageCount: number;
  unreadCount: { patient: number; doctor: number };
  lastSeq: number;
};

export type ContextSummary = {
  type: ContextType;
  id: string;
  title: string;
  /** YYYY-MM-DD */
  date: string;
  summary: string;
  patient: Participant;
  doctor: Participant;
  session: Session | null;
  unreadCount: number;
  /** Timestamp of the newest message of the session (null: none). */
  lastMessageAt: string | null;
  /** An urgent message addressed to the caller is not read yet. */
  hasUrgentUnread: boolean;
};

/** The inbox as one value, sorted by Rust; the UI never re-sorts it. */
export type Inbox = { contexts: ContextSummary[]; unreadTotal: number };

/** `resume_session`: `readOnly` when opened from the cache while the server is unreachable. */
export type SignedIn = { user: User; readOnly: boolean };

/** The last sign-in on this device (no secret), to pre-fill the login form. */
export type LastLogin = { server: string; username: string | null; caFile: string | null };

export type Notification = {
  id: string;
  type: 'new_message';
  title: string;
  body: string;
  sender: Participant;
  context: ContextRef;
  sessionId: string;
  messageId: string;
  isUrgent: boolean;
  createdAt: string;
  seenAt?: string;
};

export type HistoryPage = {
  messages: UiMessage[];
  hasMore: boolean;
  nextBefore: number | null;
  session: Session | null;
};

export type SearchHit = {
  message: Message;
  /** Text with <mark>…</mark> around matches; everything else HTML-escaped. */
  snippet: string;
  rank: number;
};

export type Language = 'fr' | 'en';
export type Settings = { language: Language; notificationPreview: boolean };

export type Limits = {
  maxMessageLength: number;
  maxAttachments: number;
  maxFileSize: number;
  allowedFileTypes: string[];
};

export type ExportFormat = 'json' | 'html';
export type ConnectionState = 'connected' | 'disconnected' | 'reconnecting';

// ---- event payloads ----

export type StatusEvent = {
  messageId: string;
  sessionId: string;
  status: MessageStatus;
  at: string;
};
export type TypingEvent = {
  contextType: ContextType;
  contextId: string;
  user: Participant;
  isTyping: boolean;
};
export type PresenceEvent = { userId: string; online: boolean };
export type ConnectionEvent = { state: ConnectionState; readOnly: boolean };
export type SessionEndedEvent = { reason: 'expired' | 'disabled' };
export type OpenConversationEvent = { contextType: ContextType; contextId: string };
export type PeerKeyChangedEvent = { userId: string; name: string };
