/**
 * A fake Rust side for tests, built only on `@tauri-apps/api/mocks`: `mockIPC` answers
 * commands from a handler table (recording every call), and `shouldMockEvents` lets
 * `emit` reach the app's `listen` subscriptions, as the real shell's events would.
 */
import { act, waitFor } from '@testing-library/react';
import { emit } from '@tauri-apps/api/event';
import { mockIPC, mockWindows } from '@tauri-apps/api/mocks';
import type {
  Absence,
  AccessLogResponse,
  Attachment,
  EventName,
  EventPayloads,
  HistoryPage,
  Inbox,
  LastLogin,
  Limits,
  Notification,
  OfficeHours,
  ReplyTemplate,
  SearchHit,
  Session,
  Settings,
  SignedIn,
  UiMessage,
  User,
} from '../api';
import type * as commands from '../api/commands';
import { DEFAULT_LIMITS } from '../features/attachments/validation';

export type Args = Record<string, unknown>;

/**
 * What each command returns, with the contract's types: a fixture the backend could not
 * send does not compile.
 */
export type CommandResults = {
  login: User;
  resume_session: SignedIn | null;
  last_login: LastLogin | null;
  logout: null;
  get_limits: Limits;
  list_contexts: Inbox;
  window_ready: null;
  load_history: HistoryPage;
  send_message: UiMessage;
  retry_send: UiMessage;
  discard_send: null;
  mark_read: null;
  set_typing: null;
  delete_message: UiMessage;
  close_conversation: Session;
  reopen_conversation: Session;
  archive_conversation: Session;
  access_log: AccessLogResponse;
  get_absence: Absence | null;
  set_absence: Absence;
  clear_absence: null;
  get_office_hours: OfficeHours | null;
  set_office_hours: OfficeHours;
  clear_office_hours: null;
  list_templates: ReplyTemplate[];
  save_template: ReplyTemplate[];
  delete_template: ReplyTemplate[];
  render_template: string;
  upload_attachment: Attachment;
  download_attachment: string;
  attachment_preview: Awaited<ReturnType<typeof commands.attachmentPreview>>;
  attachment_thumbnail: Awaited<ReturnType<typeof commands.attachmentThumbnail>>;
  attachment_media: Awaited<ReturnType<typeof commands.attachmentMedia>>;
  upload_voice: Attachment;
  search_messages: SearchHit[];
  export_conversation: string;
  list_notifications: Notification[];
  set_open_conversation: null;
  get_settings: Settings;
  set_settings: Settings;
  safety_code: string;
  accept_peer_key: boolean;
};
export type CommandName = keyof CommandResults;

export type Handler<T = unknown> = ((args: Args) => T | Promise<T>) | { value: T };
export type Handlers = { [K in CommandName]?: Handler<CommandResults[K]> };
export type Call = { cmd: string; args: Args };

const DEFAULTS: Handlers = {
  resume_session: { value: null },
  last_login: { value: null },
  get_settings: { value: { language: 'fr', notificationPreview: true } },
  set_settings: (args) => args.settings as Settings,
  get_limits: { value: DEFAULT_LIMITS },
  list_contexts: { value: { contexts: [], unreadTotal: 0 } },
  list_notifications: { value: [] },
  get_absence: { value: null },
  get_office_hours: { value: null },
  list_templates: { value: [] },
  set_open_conversation: { value: null },
  set_typing: { value: null },
  mark_read: { value: null },
  logout: { value: null },
};

/** A CommandError as the Rust side serializes it. */
export function commandError(code: string, message = 'message interne, jamais affiché') {
  return { code, message };
}

/**
 * How many `listen` subscriptions each event has, seen at the IPC boundary: the app
 * subscribes after its first render (Tauri's `listen` is asynchronous), so under load a
 * test could emit before anyone listens; `emitEvent` waits for a subscriber instead.
 */
const subscribers = new Map<string, number>();

type Invoke = (cmd: string, args?: Record<string, unknown>, options?: unknown) => Promise<unknown>;

function countSubscriptions() {
  subscribers.clear();
  const internals = (window as unknown as { __TAURI_INTERNALS__: { invoke: Invoke } }).__TAURI_INTERNALS__;
  const invoke = internals.invoke;
  internals.invoke = async (cmd, args, options) => {
    const event = typeof args?.event === 'string' ? args.event : undefined;
    const result = await invoke(cmd, args, options);
    if (event && cmd === 'plugin:event|listen') subscribers.set(event, (subscribers.get(event) ?? 0) + 1);
    if (event && cmd === 'plugin:event|unlisten') subscribers.set(event, Math.max(0, (subscribers.get(event) ?? 0) - 1));
    return result;
  };
}

export function mockBackend(handlers: Handlers = {}) {
  const calls: Call[] = [];
  const table: Record<string, Handler | undefined> = { ...DEFAULTS, ...handlers };
  mockWindows('main');
  mockIPC(
    (cmd, payload) => {
      const args = (payload ?? {}) as Args;
      calls.push({ cmd, args });
      const handler = table[cmd];
      if (!handler) throw commandError('INTERNAL', `commande non simulée : ${cmd}`);
      return typeof handler === 'function' ? handler(args) : handler.value;
    },
    { shouldMockEvents: true },
  );
  countSubscriptions();
  return {
    calls,
    callsOf: (cmd: CommandName) => calls.filter((c) => c.cmd === cmd).map((c) => c.args),
    /** Replace a handler mid-test. */
    on: <K extends CommandName>(cmd: K, handler: Handler<CommandResults[K]>) => {
      table[cmd] = handler as Handler;
    },
  };
}

export type Backend = ReturnType<typeof mockBackend>;

/**
 * Emits a shell event to the app, inside act(), once the app listens to it; with
 * `{ unheard: true }` at once, for an event the test expects nobody to hear.
 */
export async function emitEvent<K extends EventName>(
  name: K,
  payload: EventPayloads[K],
  { unheard = false }: { unheard?: boolean } = {},
): Promise<void> {
  if (!unheard) {
    await waitFor(() => {
      if (!subscribers.get(name)) throw new Error(`nothing listens to ${name} yet`);
    });
  }
  await act(async () => {
    await emit(name, payload);
  });
}

/** A promise we resolve by hand, to hold a command "in flight". */
export function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
