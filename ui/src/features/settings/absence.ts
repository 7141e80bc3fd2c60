/**
 * A doctor's absence (docs/messaging.md, "Absence"): the form's values, the checks the
 * server makes (repeated here so that the doctor learns at once what is wrong), and the
 * conversion of the form's local times to the RFC 3339 timestamps the server expects.
 */
import type { Absence } from '../../api';
import type { MessageKey } from '../../i18n';
import { characterCount } from '../messages/conversationState';

/** The server's limits: longer notes and absences are refused with VALIDATION_FAILED. */
export const ABSENCE_NOTE_MAX = 300;
export const ABSENCE_MAX_DAYS = 366;

const DAY_MS = 86_400_000;

/** The form as typed: `datetime-local` values (local time, "2025-03-20T18:00") and the note. */
export type AbsenceDraft = { from: string; until: string; note: string };

/** What is wrong with each field, if anything. */
export type AbsenceErrors = Partial<Record<keyof AbsenceDraft, MessageKey>>;

const pad = (n: number) => String(n).padStart(2, '0');

/** A date as a `datetime-local` value, in local time, to the minute. */
export function toLocalInput(date: Date): string {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** A `datetime-local` value (local time) as a timestamp; null when empty or invalid. */
function parseLocal(value: string): Date | null {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** The form for a new absence: from now, no end yet. */
export function emptyDraft(now: Date = new Date()): AbsenceDraft {
  return { from: toLocalInput(now), until: '', note: '' };
}

/** The form to change an absence already set. */
export function draftOf(absence: Absence): AbsenceDraft {
  return { from: toLocalInput(new Date(absence.from)), until: toLocalInput(new Date(absence.until)), note: absence.note ?? '' };
}

/**
 * Checks the form as the server would, and gives the absence to send when it passes:
 * the end after the start and in the future, at most 366 days, a note of at most 300
 * characters (code points, as the server counts). An empty note is sent as none.
 */
export function validateAbsence(draft: AbsenceDraft, now: Date = new Date()): { absence: Absence } | { errors: AbsenceErrors } {
  const errors: AbsenceErrors = {};
  const from = parseLocal(draft.from);
  const until = parseLocal(draft.until);
  if (!from) errors.from = 'absence.error.fromMissing';
  if (!until) errors.until = 'absence.error.untilMissing';
  else if (from && until.getTime() <= from.getTime()) errors.until = 'absence.error.untilBeforeFrom';
  else if (until.getTime() <= now.getTime()) errors.until = 'absence.error.untilPast';
  else if (from && until.getTime() - from.getTime() > ABSENCE_MAX_DAYS * DAY_MS) errors.until = 'absence.error.tooLong';
  const note = draft.note.trim();
  if (characterCount(note) > ABSENCE_NOTE_MAX) errors.note = 'absence.error.noteTooLong';
  if (!from || !until || Object.keys(errors).length > 0) return { errors };
  return { absence: { from: from.toISOString(), until: until.toISOString(), note: note || null } };
}

/** Whether an absence is still to come or under way (one that has ended is as none). */
export function isCurrent(absence: Absence | null | undefined, now: number = Date.now()): absence is Absence {
  if (!absence) return false;
  const until = Date.parse(absence.until);
  return Number.isFinite(until) && until > now;
}

/** Whether the absence has begun (else it is planned). */
export function hasBegun(absence: Absence, now: number = Date.now()): boolean {
  return Date.parse(absence.from) <= now;
}
