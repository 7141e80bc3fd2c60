/**
 * A fake Rust side for tests, built only on `@tauri-apps/api/mocks`: `mockIPC` answers
 * commands from a handler table (recording every call), and `shouldMockEvents` lets
 * `emit` reach the app's `listen` subscriptions, as the real shell's events would.
 */
import { act } from '@testing-library/react';
import { emit } from '@tauri-apps/api/event';
import { mockIPC, mockWindows } from '@tauri-apps/api/mocks';
import type { EventName, EventPayloads } from '../api';
import { DEFAULT_LIMITS } from '../features/attachments/validation';

export type Args = Record<string, unknown>;
export type Handler = ((args: Args) => unknown) | { value: unknown };
export type Call = { cmd: string; args: Args };

const DEFAULTS: Record<string, Handler> = {
  resume_session: { value: null },
  get_settings: { value: { language: 'fr', notificationPreview: true } },
  set_settings: (args) => args.settings,
  get_limits: { value: DEFAULT_LIMITS },
  list_contexts: { value: [] },
  list_notifications: { value: [] },
  set_open_conversation: { value: null },
  set_typing: { value: null },
  mark_read: { value: null },
  logout: { value: null },
};

/** A CommandError as the Rust side serializes it. */
export function commandError(code: string, message = 'message interne, jamais affiché') {
  return { code, message };
}

export function mockBackend(handlers: Record<string, Handler> = {}) {
  const calls: Call[] = [];
  const table: Record<string, Handler> = { ...DEFAULTS, ...handlers };
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
  return {
    calls,
    callsOf: (cmd: string) => calls.filter((c) => c.cmd === cmd).map((c) => c.args),
    /** Replace a handler mid-test. */
    on: (cmd: string, handler: Handler) => {
      table[cmd] = handler;
    },
  };
}

export type Backend = ReturnType<typeof mockBackend>;

/** Emits a shell event to the app, inside act(). */
export async function emitEvent<K extends EventName>(name: K, payload: EventPayloads[K]): Promise<void> {
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
