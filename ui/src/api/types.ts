/**
 * Data shapes of the desktop IPC contract (docs/desktop-ipc.md), mirroring the wire
 * types of `protocol/src/model.rs` and `protocol/src/api.rs`. camelCase, as on the wire.
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
  /** Client side (from the envelope): the encrypted thumbnail of an image (`attachment_thumbnail`). */
  thumbnailId?: string;
  /** Client side: pixel size of an image. */
  width?: number;
  height?: number;
  /** Client side: duration of a voice message in milliseconds, measured by the sender. */
  durationMs?: number;
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
  // client-side only:
  pending?: boolean;
  failed?: boolean;
  /** Set by the Rust client: `true` for an end-to-end envelope, `false` for clear text (absent: not known yet). */
  encrypted?: boolean;
  /** Set by the Rust client when an envelope failed a check (e.g. `E2E_BAD_SIGNATURE`); content is then empty. */
  e2eError?: string;
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
  lastMessageAt?: string;
  hasUrgentUnread?: boolean;
};

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
  messages: Message[];
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
export type ConnectionEvent = { state: ConnectionState };
export type OpenConversationEvent = { contextType: ContextType; contextId: string };
export type UnreadEvent = { total: number };
export type PeerKeyChangedEvent = { userId: string; name: string };
