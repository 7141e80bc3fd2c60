/**
 * A doctor's weekly office hours (docs/messaging.md, "Office hours"): the editor's
 * values, the checks the server makes (repeated here so that the doctor learns at once
 * what is wrong), the conversion to the `OfficeHours` the server expects, and the
 * compact summary a patient reads before writing. Whether the doctor is reading now is
 * the server's business (it sends the automatic answer), never computed here.
 */
import type { OfficeHours, OfficeSlot, Weekday } from '../../api';
import type { MessageKey, Translate } from '../../i18n';

/** The server's limit: more slots are refused with VALIDATION_FAILED. */
export const OFFICE_HOURS_MAX_SLOTS = 28;

/** The days, Monday first (ISO 8601), as the editor and the summary list them. */
export const WEEKDAYS: readonly Weekday[] = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];

/** Each day's name, as a label (exhaustive: a new day does not compile until named). */
export const WEEKDAY_LABEL: Record<Weekday, MessageKey> = {
  monday: 'weekday.monday',
  tuesday: 'weekday.tuesday',
  wednesday: 'weekday.wednesday',
  thursday: 'weekday.thursday',
  friday: 'weekday.friday',
  saturday: 'weekday.saturday',
  sunday: 'weekday.sunday',
};

/** Each day's short name, for the patient's one-line summary ("lun."). */
export const WEEKDAY_SHORT: Record<Weekday, MessageKey> = {
  monday: 'weekday.short.monday',
  tuesday: 'weekday.short.tuesday',
  wednesday: 'weekday.short.wednesday',
  thursday: 'weekday.short.thursday',
  friday: 'weekday.short.friday',
  saturday: 'weekday.short.saturday',
  sunday: 'weekday.short.sunday',
};

/**
 * The time zones offered besides the device's own and the one saved: metropolitan France
 * and the overseas departments and territories, then a few neighbours.
 */
export const COMMON_TIME_ZONES: readonly string[] = [
  'Europe/Paris',
  'America/Guadeloupe',
  'America/Martinique',
  'America/Cayenne',
  'Indian/Reunion',
  'Indian/Mayotte',
  'America/Miquelon',
  'Pacific/Noumea',
  'Pacific/Tahiti',
  'Pacific/Wallis',
  'Europe/Brussels',
  'Europe/Luxembourg',
  'Europe/Zurich',
];

/** The device's time zone (the default of new hours); Paris when the runtime cannot tell. */
export function deviceTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'Europe/Paris';
  } catch {
    return 'Europe/Paris';
  }
}

/** The zones to choose from: the common ones, plus the device's and the current one when not among them. */
export function timeZoneChoices(current: string, device: string = deviceTimeZone()): string[] {
  const extra = [current, device].filter((zone, i, all) => zone && !COMMON_TIME_ZONES.includes(zone) && all.indexOf(zone) === i);
  return [...extra, ...COMMON_TIME_ZONES];
}

/** "Europe/Paris" → "Paris", "America/Argentina/Buenos_Aires" → "Buenos Aires", "UTC" → "UTC". */
export function zoneCity(zone: string): string {
  const last = zone.split('/').pop() ?? zone;
  return last.replace(/_/g, ' ');
}

/** One range as typed: two `type="time"` values ("09:00"; "" while empty). */
export type RangeDraft = { key: string; start: string; end: string };

/** The editor as typed: each day's ranges, in the order added, and the zone. */
export type OfficeHoursDraft = { timeZone: string; days: Record<Weekday, RangeDraft[]> };

/** What is wrong: with a range (by its key), or with the whole (no range, too many, no zone). */
export type OfficeHoursErrors = { ranges: Record<string, MessageKey>; form: MessageKey | null };

let nextKey = 0;
/** A key for a new range row (React list key, error lookup). */
export function newRangeKey(): string {
  nextKey += 1;
  return `range-${nextKey}`;
}

const MIDNIGHT = 24 * 60;

/**
 * Minutes after midnight of an "HH:MM" value (seconds, if a browser adds them, ignored);
 * null when empty or malformed. `24:00` is only an end.
 */
function minutes(value: string, end: boolean): number | null {
  if (end && value === '24:00') return MIDNIGHT;
  const match = /^(\d{2}):(\d{2})(?::\d{2}(?:\.\d+)?)?$/.exec(value);
  if (!match) return null;
  const h = Number(match[1]);
  const m = Number(match[2]);
  return h < 24 && m < 60 ? h * 60 + m : null;
}

/**
 * The end of a range in minutes: a time input cannot hold "24:00", so an end at "00:00"
 * means midnight at the end of the day (it could never be after a start otherwise).
 */
function endMinutes(value: string): number | null {
  const m = minutes(value, true);
  return m === 0 ? MIDNIGHT : m;
}

const hhmm = (value: string) => value.slice(0, 5);

/** An empty week in the device's time zone (or the one given). */
export function emptyOfficeHoursDraft(timeZone: string = deviceTimeZone()): OfficeHoursDraft {
  const days = Object.fromEntries(WEEKDAYS.map((day) => [day, [] as RangeDraft[]])) as Record<Weekday, RangeDraft[]>;
  return { timeZone, days };
}

/** The editor for hours already set: their zone, each slot under its day, by start ("24:00" shown as "00:00"). */
export function draftOfOfficeHours(hours: OfficeHours): OfficeHoursDraft {
  const draft = emptyOfficeHoursDraft(hours.timeZone);
  for (const slot of sortSlots(hours.slots)) {
    draft.days[slot.day].push({ key: newRangeKey(), start: slot.start, end: slot.end === '24:00' ? '00:00' : slot.end });
  }
  return draft;
}

/** How many ranges the week holds. */
export function rangeCount(draft: OfficeHoursDraft): number {
  return WEEKDAYS.reduce((sum, day) => sum + draft.days[day].length, 0);
}

/**
 * Checks the editor as the server would, and gives the hours to send when it passes:
 * a zone, 1 to 28 ranges, each with a start and an end after it, the ranges of one day
 * not overlapping (one may start when the previous ends). Slots are sent Monday first,
 * by start, as "HH:MM"; an end at midnight as "24:00".
 */
export function validateOfficeHours(draft: OfficeHoursDraft): { hours: OfficeHours } | { errors: OfficeHoursErrors } {
  const errors: OfficeHoursErrors = { ranges: {}, form: null };
  const slots: OfficeSlot[] = [];
  for (const day of WEEKDAYS) {
    const spans: { key: string; start: number; end: number }[] = [];
    for (const range of draft.days[day]) {
      const start = minutes(range.start, false);
      const end = endMinutes(range.end);
      if (start === null || end === null) errors.ranges[range.key] = 'officeHours.error.incomplete';
      else if (end <= start) errors.ranges[range.key] = 'officeHours.error.endBeforeStart';
      else spans.push({ key: range.key, start, end });
    }
    spans.sort((a, b) => a.start - b.start || a.end - b.end);
    let latestEnd = -1;
    for (const span of spans) {
      if (span.start < latestEnd) errors.ranges[span.key] = 'officeHours.error.overlap';
      latestEnd = Math.max(latestEnd, span.end);
    }
    for (const span of spans) {
      const range = draft.days[day].find((r) => r.key === span.key)!;
      slots.push({ day, start: hhmm(range.start), end: span.end === MIDNIGHT ? '24:00' : hhmm(range.end) });
    }
  }
  const count = rangeCount(draft);
  if (!draft.timeZone.trim()) errors.form = 'officeHours.error.timeZone';
  else if (count === 0) errors.form = 'officeHours.error.none';
  else if (count > OFFICE_HOURS_MAX_SLOTS) errors.form = 'officeHours.error.tooMany';
  if (errors.form || Object.keys(errors.ranges).length > 0) return { errors };
  return { hours: { timeZone: draft.timeZone.trim(), slots } };
}

/** The slots Monday first, then by start (the server keeps them as given). */
export function sortSlots(slots: readonly OfficeSlot[]): OfficeSlot[] {
  const order = (slot: OfficeSlot) => WEEKDAYS.indexOf(slot.day);
  return [...slots].sort((a, b) => order(a) - order(b) || (minutes(a.start, false) ?? 0) - (minutes(b.start, false) ?? 0));
}

/** The days that have slots, Monday first, each with its ranges by start. */
export function slotsByDay(slots: readonly OfficeSlot[]): { day: Weekday; ranges: { start: string; end: string }[] }[] {
  const groups: { day: Weekday; ranges: { start: string; end: string }[] }[] = [];
  for (const slot of sortSlots(slots)) {
    const last = groups[groups.length - 1];
    const range = { start: slot.start, end: slot.end };
    if (last && last.day === slot.day) last.ranges.push(range);
    else groups.push({ day: slot.day, ranges: [range] });
  }
  return groups;
}

/** "09:00" → "9:00", "14:30" → "14:30" (the hour without its leading zero). */
export function displayTime(value: string): string {
  return value.replace(/^0(\d)/, '$1');
}

/** The week in one line: "lun. 9:00–12:00, 14:00–18:00 · jeu. 14:00–18:00". */
export function officeHoursSummary(hours: OfficeHours, t: Translate): string {
  return slotsByDay(hours.slots)
    .map(
      ({ day, ranges }) =>
        `${t(WEEKDAY_SHORT[day])} ${ranges.map((r) => `${displayTime(r.start)}–${displayTime(r.end)}`).join(', ')}`,
    )
    .join(' · ');
}
