/**
 * Locale-aware date, time and size formatting. Day arithmetic is done on local calendar
 * days so that "Aujourd'hui" / "Hier" follow the user's clock, not UTC.
 */
import type { Language } from '../api';

const LOCALES: Record<Language, string> = { fr: 'fr-FR', en: 'en-GB' };
const SIZE_UNITS: Record<Language, [string, string, string]> = { fr: ['o', 'Ko', 'Mo'], en: ['B', 'KB', 'MB'] };

export type DayLabel = { kind: 'today' } | { kind: 'yesterday' } | { kind: 'date'; text: string };

/** Local midnight of a date, as a comparable day number. */
export function dayKey(date: Date): string {
  return `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, '0')}-${String(date.getDate()).padStart(2, '0')}`;
}

function daysBetween(a: Date, b: Date): number {
  const start = new Date(a.getFullYear(), a.getMonth(), a.getDate()).getTime();
  const end = new Date(b.getFullYear(), b.getMonth(), b.getDate()).getTime();
  return Math.round((end - start) / 86_400_000);
}

/** Parses a record date `YYYY-MM-DD` as a local calendar date (no UTC shift). */
export function parseRecordDate(value: string): Date {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!match) return new Date(value);
  return new Date(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
}

function capitalize(text: string): string {
  return text.charAt(0).toLocaleUpperCase() + text.slice(1);
}

export function createFormatters(language: Language) {
  const locale = LOCALES[language];
  const time = new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit' });
  const fullDay = new Intl.DateTimeFormat(locale, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
  const longDate = new Intl.DateTimeFormat(locale, { day: 'numeric', month: 'long', year: 'numeric' });
  const shortDate = new Intl.DateTimeFormat(locale, { day: 'numeric', month: 'short' });
  const number = new Intl.NumberFormat(locale);
  const unit = (name: 'minute' | 'hour' | 'day') => new Intl.NumberFormat(locale, { style: 'unit', unit: name, unitDisplay: 'short' });
  const minutes = unit('minute');
  const hours = unit('hour');
  const days = unit('day');

  return {
    locale,
    /** "14:32" */
    time: (iso: string | Date) => time.format(new Date(iso)),
    /** Label of a message-list day separator. */
    dayLabel(iso: string | Date, now: Date = new Date()): DayLabel {
      const date = new Date(iso);
      const diff = daysBetween(date, now);
      if (diff === 0) return { kind: 'today' };
      if (diff === 1) return { kind: 'yesterday' };
      return { kind: 'date', text: capitalize(fullDay.format(date)) };
    },
    /** "12 mars 2025" for a record date (YYYY-MM-DD) or a timestamp. */
    recordDate: (value: string) => longDate.format(parseRecordDate(value)),
    /** Local calendar date of a timestamp: "12 mars 2025". */
    date: (iso: string) => longDate.format(new Date(iso)),
    /** Inbox style: time today, "yesterday" flag, else short date. */
    activity(iso: string, now: Date = new Date()): { kind: 'time' | 'yesterday' | 'date'; text: string } {
      const date = new Date(iso);
      const diff = daysBetween(date, now);
      if (diff === 0) return { kind: 'time', text: time.format(date) };
      if (diff === 1) return { kind: 'yesterday', text: time.format(date) };
      return { kind: 'date', text: shortDate.format(date) };
    },
    /**
     * Time elapsed since a timestamp, in its largest whole unit: "12 min", "3 h",
     * "2 j" ("12 mins", "3 hrs", "2 days"); at least one minute.
     */
    elapsed(iso: string | Date, now: Date = new Date()): string {
      const totalMinutes = Math.floor((now.getTime() - new Date(iso).getTime()) / 60_000);
      if (totalMinutes < 60) return minutes.format(Math.max(1, totalMinutes));
      const totalHours = Math.floor(totalMinutes / 60);
      if (totalHours < 24) return hours.format(totalHours);
      return days.format(Math.floor(totalHours / 24));
    },
    number: (value: number) => number.format(value),
    /** "2,4 Mo" / "2.4 MB" */
    fileSize(bytes: number): string {
      const fmt = new Intl.NumberFormat(locale, { maximumFractionDigits: 1 });
      const units = SIZE_UNITS[language];
      if (bytes < 1024) return `${fmt.format(bytes)} ${units[0]}`;
      if (bytes < 1024 * 1024) return `${fmt.format(bytes / 1024)} ${units[1]}`;
      return `${fmt.format(bytes / (1024 * 1024))} ${units[2]}`;
    },
  };
}

export type Formatters = ReturnType<typeof createFormatters>;
