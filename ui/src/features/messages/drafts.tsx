/**
 * Unsent work per conversation (text, flags, question category, uploaded attachments), kept in memory above
 * the login gate: a `dmp://session-expired` sends the user to the login screen without
 * losing it. Keyed by user as well, so another person signing in on the same workstation
 * never sees someone else's draft; an explicit logout forgets everything.
 */
import { createContext, useContext, useMemo, useRef, type ReactNode } from 'react';
import type { Attachment, ContextRef, QuestionCategory } from '../../api';

export type Draft = {
  text: string;
  isUrgent: boolean;
  requiresResponse: boolean;
  /** The patient's chosen question category (null: none). */
  category: QuestionCategory | null;
  attachments: Attachment[];
};

export const EMPTY_DRAFT: Draft = { text: '', isUrgent: false, requiresResponse: false, category: null, attachments: [] };

type DraftStore = {
  get(userId: string, context: ContextRef): Draft;
  set(userId: string, context: ContextRef, draft: Draft): void;
  has(userId: string, context: ContextRef): boolean;
  clearAll(): void;
  /** The conversation open when the session expired, to reopen it after signing in again. */
  rememberOpen(userId: string, context: ContextRef | null): void;
  lastOpen(userId: string): ContextRef | null;
};

const key = (userId: string, context: ContextRef) => `${userId}|${context.type}:${context.id}`;

export function isEmptyDraft(draft: Draft): boolean {
  return draft.text.trim() === '' && draft.attachments.length === 0;
}

export function createDraftStore(): DraftStore {
  const drafts = new Map<string, Draft>();
  const open = new Map<string, ContextRef | null>();
  return {
    get: (userId, context) => drafts.get(key(userId, context)) ?? EMPTY_DRAFT,
    set: (userId, context, draft) => {
      if (isEmptyDraft(draft) && !draft.isUrgent && !draft.requiresResponse && !draft.category) drafts.delete(key(userId, context));
      else drafts.set(key(userId, context), draft);
    },
    has: (userId, context) => {
      const draft = drafts.get(key(userId, context));
      return draft !== undefined && !isEmptyDraft(draft);
    },
    clearAll: () => {
      drafts.clear();
      open.clear();
    },
    rememberOpen: (userId, context) => open.set(userId, context),
    lastOpen: (userId) => open.get(userId) ?? null,
  };
}

const DraftsContext = createContext<DraftStore | null>(null);

export function DraftsProvider({ children, store }: { children: ReactNode; store?: DraftStore }) {
  const ref = useRef<DraftStore | null>(store ?? null);
  if (!ref.current) ref.current = createDraftStore();
  const value = useMemo(() => ref.current!, []);
  return <DraftsContext.Provider value={value}>{children}</DraftsContext.Provider>;
}

export function useDrafts(): DraftStore {
  const store = useContext(DraftsContext);
  if (!store) throw new Error('useDrafts outside DraftsProvider');
  return store;
}
