/**
 * The doctor's reply templates for the session: read once with `list_templates` (when
 * the composer's picker first opens, or when the settings show them), then replaced by
 * the list each save or delete answers, so that the picker sees what the settings saved.
 * One store per signed-in user (the provider lives in the workspace).
 */
import { createContext, useContext, useState, useSyncExternalStore, type ReactNode } from 'react';
import { commands, errorCode, type ErrorCode, type ReplyTemplate } from '../../api';

export type TemplatesState = {
  /** `idle`: never asked. */
  status: 'idle' | 'loading' | 'ready' | 'error';
  /** The list last read or saved; null while it was never read. */
  templates: ReplyTemplate[] | null;
  /** Why the last read failed. */
  code: ErrorCode | null;
};

export type TemplatesStore = {
  subscribe: (listener: () => void) => () => void;
  getSnapshot: () => TemplatesState;
  /** Reads the list, unless it is known already; `force` reads it again. */
  load: (force?: boolean) => Promise<void>;
  /** The list as `save_template` or `delete_template` answered it. */
  set: (templates: ReplyTemplate[]) => void;
};

export function createTemplatesStore(): TemplatesStore {
  let state: TemplatesState = { status: 'idle', templates: null, code: null };
  let pending: Promise<void> | null = null;
  // Each read or save takes a number: an older read that answers late is dropped.
  let generation = 0;
  const listeners = new Set<() => void>();
  const update = (next: TemplatesState) => {
    state = next;
    listeners.forEach((listener) => listener());
  };

  return {
    subscribe(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    getSnapshot: () => state,
    load(force = false) {
      if (!force && state.status === 'ready') return Promise.resolve();
      if (!force && pending) return pending;
      const mine = ++generation;
      update({ ...state, status: 'loading', code: null });
      const request = commands.listTemplates().then(
        (templates) => {
          if (mine === generation) update({ status: 'ready', templates, code: null });
        },
        (caught: unknown) => {
          if (mine === generation) update({ ...state, status: 'error', code: errorCode(caught) });
        },
      );
      pending = request.finally(() => {
        if (mine === generation) pending = null;
      });
      return pending;
    },
    set(templates) {
      generation += 1;
      pending = null;
      update({ status: 'ready', templates, code: null });
    },
  };
}

const TemplatesContext = createContext<TemplatesStore | null>(null);

export function TemplatesProvider({ children }: { children: ReactNode }) {
  const [store] = useState(createTemplatesStore);
  return <TemplatesContext.Provider value={store}>{children}</TemplatesContext.Provider>;
}

export type TemplatesController = TemplatesState & Pick<TemplatesStore, 'load' | 'set'>;

/** The shared templates; without a provider, a store of the component's own. */
export function useTemplates(): TemplatesController {
  const shared = useContext(TemplatesContext);
  const [own] = useState(() => (shared ? null : createTemplatesStore()));
  const store = (shared ?? own) as TemplatesStore;
  const state = useSyncExternalStore(store.subscribe, store.getSnapshot);
  return { ...state, load: store.load, set: store.set };
}
