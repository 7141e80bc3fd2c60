/**
 * Question categories and answers that wait (docs/messaging.md). Each record offers its
 * patient a few categories (`allowedActions`, from its kind) and "other" always fits;
 * a patient's question marked "requires response" waits for the doctor's answer until
 * `dueAt`. The server decides both; this module only names and reads them.
 */
import { useEffect, useState } from 'react';
import type { AwaitingAnswer, ContextSummary, QuestionCategory } from '../../api';
import type { MessageKey } from '../../i18n';

/** The label of each category (exhaustive: a new backend category does not compile until named). */
export const CATEGORY_LABEL: Record<QuestionCategory, MessageKey> = {
  question: 'category.question',
  clarification: 'category.clarification',
  side_effects: 'category.side_effects',
  explanation: 'category.explanation',
  interpretation: 'category.interpretation',
  next_steps: 'category.next_steps',
  other: 'category.other',
};

/** Every category, prescription ones first, then exam ones, then "other". */
export const QUESTION_CATEGORIES = Object.keys(CATEGORY_LABEL) as QuestionCategory[];

export function isQuestionCategory(value: string): value is QuestionCategory {
  return Object.prototype.hasOwnProperty.call(CATEGORY_LABEL, value);
}

/** What the patient may pick for this record: its `allowedActions`, then "other". */
export function categoriesFor(context: Pick<ContextSummary, 'allowedActions'>): QuestionCategory[] {
  return [...context.allowedActions.filter((c) => c !== 'other'), 'other'];
}

/**
 * Whether the answer is late. The client core keeps `awaitingAnswer` current from live
 * events but leaves `overdue` false until the next server list, so the due time is
 * compared with the clock as well.
 */
export function isOverdue(awaiting: AwaitingAnswer, now: Date): boolean {
  if (awaiting.overdue) return true;
  const due = Date.parse(awaiting.dueAt);
  return !Number.isNaN(due) && due < now.getTime();
}

/**
 * The current time at each render, with a render at least every `everyMs`: durations
 * and lateness move on by themselves, not only when the inbox changes.
 */
export function useNow(everyMs = 60_000): Date {
  const [, setTick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => setTick((n) => n + 1), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return new Date();
}
