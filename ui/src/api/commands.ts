/**
 * Typed wrappers over the Tauri commands of docs/desktop-ipc.md: one function per
 * command, the only place (with events.ts) that talks to the Rust side. Each wrapper
 * rejects with a `CommandError`.
 */
import { invoke, type InvokeArgs, type InvokeOptions } from '@tauri-apps/api/core';
import { toCommandError, type CommandError } from './errors';
import type {
  Absence,
  AccessLogResponse,
  Attachment,
  CloseReason,
  ContextRef,
  ContextType,
  ExportFormat,
  HistoryPage,
  Inbox,
  LastLogin,
  Limits,
  Notification,
  OfficeHours,
  QuestionCategory,
  ReplyTemplate,
  SearchHit,
  Session,
  Settings,
  SignedIn,
  UiMessage,
  User,
} from './types';

type AuthLostListener = (code: CommandError['code']) => void;
const authLostListeners = new Set<AuthLostListener>();

/**
 * Called when a command fails because the user is no longer signed in, so the app
 * can go back to the login screen even if the `dmp://session-expired` event was missed.
 */
export function onAuthLost(listener: AuthLostListener): () => void {
  authLostListeners.add(listener);
  return () => authLostListeners.delete(listener);
}

const AUTH_LOST_CODES = new Set<CommandError['code']>(['SESSION_EXPIRED', 'NOT_SIGNED_IN', 'AUTH_REQUIRED', 'ACCOUNT_DISABLED']);

/** Commands that are legitimately called while signed out (AUTH_REQUIRED from `login` means bad credentials). */
const SIGNED_OUT_COMMANDS = new Set(['window_ready', 'login', 'resume_session', 'last_login', 'logout', 'get_settings', 'set_settings', 'get_limits']);

async function call<T>(command: string, args?: InvokeArgs, options?: InvokeOptions): Promise<T> {
  try {
    return await invoke<T>(command, args, options);
  } catch (raw) {
    const error = toCommandError(raw);
    if (
      AUTH_LOST_CODES.has(error.code) &&
      !SIGNED_OUT_COMMANDS.has(command)
    ) {
      authLostListeners.forEach((listener) => listener(error.code));
    }
    throw error;
  }
}

/** `caFile`: a CA certificate (PEM path) to trust for this server; empty = the app's default (`DMP_CA_FILE`). */
export type LoginArgs = { server: string; username: string; password: string; remember: boolean; caFile?: string };

export const login = (args: LoginArgs) => call<User>('login', args);
/** Signs in again from the keychain; `readOnly` when only the cache could be opened. */
export const resumeSession = () => call<SignedIn | null>('resume_session');
/** The last server, username and CA file that signed in here (kept across logout). */
export const lastLogin = () => call<LastLogin | null>('last_login');
export const logout = () => call<null>('logout');
export const getLimits = () => call<Limits>('get_limits');
/** The inbox, sorted by Rust; afterwards it is kept current by `dmp://inbox`. */
export const listContexts = () => call<Inbox>('list_contexts');

export type LoadHistoryArgs = { contextType: ContextType; contextId: string; before?: number };
export const loadHistory = (args: LoadHistoryArgs) => call<HistoryPage>('load_history', args);

export type SendMessageArgs = {
  contextType: ContextType;
  contextId: string;
  content: string;
  isUrgent: boolean;
  requiresResponse: boolean;
  /** What a patient's question is about (patients only; null or absent: none). */
  category?: QuestionCategory | null;
  attachmentIds: string[];
};
export const sendMessage = (args: SendMessageArgs) => call<UiMessage>('send_message', args);
/** Sends a failed or waiting message again, with the same clientMessageId. */
export const retrySend = (clientMessageId: string) => call<UiMessage>('retry_send', { clientMessageId });
/** Drops a failed or waiting local message. */
export const discardSend = (clientMessageId: string) => call<null>('discard_send', { clientMessageId });

export const setTyping = (args: { contextType: ContextType; contextId: string; isTyping: boolean }) =>
  call<null>('set_typing', args);
/** One batched read receipt for messages seen in the focused window. */
export const markRead = (messageIds: string[]) => call<null>('mark_read', { messageIds });
export const deleteMessage = (messageId: string) => call<UiMessage>('delete_message', { messageId });

/**
 * Closes the conversation of a record (its doctor only): both sides can still read it,
 * nobody can write until it is reopened. `reason` is a code the patient sees (null: none).
 * The `system` message that says so arrives as a `dmp://message` event.
 */
export const closeConversation = (args: { contextType: ContextType; contextId: string; reason: CloseReason | null }) =>
  call<Session>('close_conversation', args);
/** Reopens a closed conversation (its doctor only). */
export const reopenConversation = (args: { contextType: ContextType; contextId: string }) =>
  call<Session>('reopen_conversation', args);
/** Archives a conversation (either participant); a new message makes it active again. */
export const archiveConversation = (args: { contextType: ContextType; contextId: string }) =>
  call<Session>('archive_conversation', args);
/**
 * The access log of a record's conversation (docs/messaging.md, "The patient's access
 * log"): who read, exported, downloaded, closed, reopened or archived it, and what the
 * administrator did to the patient's account; newest first, never any content. The
 * record's patient only: anyone else gets CONTEXT_ACCESS_DENIED.
 */
export const accessLog = (contextType: ContextType, contextId: string) =>
  call<AccessLogResponse>('access_log', { contextType, contextId });

/**
 * The signed-in doctor's absence (docs/messaging.md, "Absence"), null when none is set.
 * While it runs, the doctor's patients see it on each record before they write, and the
 * first message of a patient in a conversation gets an automatic `absent` notice.
 */
export const getAbsence = () => call<Absence | null>('get_absence');
/**
 * Sets (or replaces) the doctor's absence. The server refuses with VALIDATION_FAILED
 * when `until` is not after `from` or already past, when it lasts more than 366 days,
 * or when the note is longer than 300 characters. The note is shown in clear.
 */
export const setAbsence = (absence: Absence) => call<Absence>('set_absence', { absence });
/** Ends the doctor's absence now. */
export const clearAbsence = () => call<null>('clear_absence');

/**
 * The signed-in doctor's weekly office hours (docs/messaging.md, "Office hours"), null
 * when none are set. The doctor's patients see them on each record before they write; a
 * patient who writes outside them gets at once an automatic `outside_hours` notice.
 */
export const getOfficeHours = () => call<OfficeHours | null>('get_office_hours');
/**
 * Sets (or replaces) the doctor's office hours. The server refuses with VALIDATION_FAILED
 * an unknown time zone, no slot or more than 28, a slot whose end is not after its start,
 * or slots of the same day that overlap.
 */
export const setOfficeHours = (hours: OfficeHours) => call<OfficeHours>('set_office_hours', { hours });
/** Removes the doctor's office hours: no automatic answer outside them any more. */
export const clearOfficeHours = () => call<null>('clear_office_hours');

/**
 * The signed-in doctor's reply templates (docs/messaging.md, "Reply templates"), opened
 * on this device: the server only holds them sealed for the doctor's own devices.
 */
export const listTemplates = () => call<ReplyTemplate[]>('list_templates');
/**
 * Adds (`id` empty) or changes a template; answers the whole list as saved. Refused with
 * VALIDATION_FAILED when the title is not one line of 1 to 80 characters, the text not
 * 1 to 2000 characters, or the doctor already keeps 100 templates.
 */
export const saveTemplate = (template: ReplyTemplate) => call<ReplyTemplate[]>('save_template', { template });
/** Deletes a template; answers the whole list as saved. */
export const deleteTemplate = (templateId: string) => call<ReplyTemplate[]>('delete_template', { templateId });
/**
 * The template's text with `{prenom}`, `{nom}` and `{document}` filled in for one record
 * (done by Rust, from the record's patient and title).
 */
export const renderTemplate = (args: { contextType: ContextType; contextId: string; template: ReplyTemplate }) =>
  call<string>('render_template', args);

/** The file crosses IPC raw (no JSON number array); its name travels percent-encoded in a header. */
export const uploadAttachment = (name: string, bytes: Uint8Array) =>
  call<Attachment>('upload_attachment', bytes, { headers: { 'Dmp-File-Name': encodeURIComponent(name) } });
export const downloadAttachment = (attachmentId: string, name: string) =>
  call<string>('download_attachment', { attachmentId, name });
/** The image's bytes, raw; the caller makes a Blob URL with the attachment's `mimeType` (and revokes it). */
export const attachmentPreview = (attachmentId: string) =>
  call<ArrayBuffer>('attachment_preview', { attachmentId });

let windowReadySent = false;
/** Tells the shell, once, that the first usable screen is shown (it logs the start time). */
export function windowReady(): void {
  if (windowReadySent) return;
  windowReadySent = true;
  call<null>('window_ready').catch(() => undefined);
}

export const searchMessages = (args: { query: string; contextType?: ContextType; contextId?: string }) =>
  call<SearchHit[]>('search_messages', args);

export const exportConversation = (args: { contextType: ContextType; contextId: string; format: ExportFormat }) =>
  call<string>('export_conversation', args);

export const listNotifications = () => call<Notification[]>('list_notifications');

export const setOpenConversation = (conversation: ContextRef | null) =>
  call<null>('set_open_conversation', {
    conversation: conversation && { contextType: conversation.type, contextId: conversation.id },
  });

export const getSettings = () => call<Settings>('get_settings');
export const setSettings = (settings: Settings) => call<Settings>('set_settings', { settings });
export const safetyCode = (userId: string) => call<string>('safety_code', { userId });
/** Trusts a peer's new encryption key after a `dmp://peer-key-changed` warning. */
export const acceptPeerKey = (userId: string) => call<boolean>('accept_peer_key', { userId });

/**
 * Media (docs/desktop-ipc.md "Media"): bytes cross IPC raw, the page makes Blob URLs;
 * the whole image never arrives as a data URL.
 */
/** A voice message: raw audio bytes, its name and the duration the window measured. */
export const uploadVoice = (name: string, bytes: Uint8Array, durationMs?: number) =>
  call<Attachment>('upload_voice', bytes, {
    headers: {
      'Dmp-File-Name': encodeURIComponent(name),
      ...(durationMs === undefined ? {} : { 'Dmp-Duration-Ms': String(Math.round(durationMs)) }),
    },
  });
/** The decrypted thumbnail (JPEG) of an image attachment. */
export const attachmentThumbnail = (attachmentId: string) => call<ArrayBuffer>('attachment_thumbnail', { attachmentId });
/** The decrypted bytes of an image (full size, on click) or a voice message. */
export const attachmentMedia = (attachmentId: string) => call<ArrayBuffer>('attachment_media', { attachmentId });
