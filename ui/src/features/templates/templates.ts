/**
 * A doctor's reply templates (docs/messaging.md, "Reply templates"): the checks the
 * server makes (repeated here so that the doctor learns at once what is wrong), and the
 * search of the composer's picker. Placeholders are filled in by Rust (`render_template`),
 * never here.
 */
import type { ReplyTemplate } from '../../api';
import type { MessageKey } from '../../i18n';
import { characterCount } from '../messages/conversationState';

/** The server's limits: anything beyond is refused with VALIDATION_FAILED. */
export const TEMPLATE_TITLE_MAX = 80;
export const TEMPLATE_TEXT_MAX = 2000;
export const TEMPLATE_MAX_COUNT = 100;

/** The placeholders a template's text may hold (literal tokens, the same in every language). */
export const TEMPLATE_PLACEHOLDERS: readonly { token: string; label: MessageKey }[] = [
  { token: '{prenom}', label: 'templates.placeholder.prenom' },
  { token: '{nom}', label: 'templates.placeholder.nom' },
  { token: '{document}', label: 'templates.placeholder.document' },
];

/** The form as typed. */
export type TemplateDraft = { title: string; text: string };

/** What is wrong with each field, if anything. */
export type TemplateErrors = Partial<Record<keyof TemplateDraft, MessageKey>>;

/** A control character (Unicode Cc, as Rust's `char::is_control`). */
const CONTROL = /\p{Cc}/u;
/** A control character other than a line feed or a tab. */
const CONTROL_IN_TEXT = /[^\P{Cc}\n\t]/u;

/**
 * Checks the form as the server would, and gives the template to send when it passes:
 * a title of one line with 1 to 80 characters, a text of 1 to 2000 characters without
 * control characters (line breaks and tabs allowed), both trimmed. Characters are code
 * points, as the server counts them.
 */
export function validateTemplate(draft: TemplateDraft, id: string): { template: ReplyTemplate } | { errors: TemplateErrors } {
  const errors: TemplateErrors = {};
  const title = draft.title.trim();
  const text = draft.text.replace(/\r\n?/g, '\n').trim();
  if (title === '') errors.title = 'templates.error.titleMissing';
  else if (characterCount(title) > TEMPLATE_TITLE_MAX) errors.title = 'templates.error.titleTooLong';
  else if (CONTROL.test(title)) errors.title = 'templates.error.titleOneLine';
  if (text === '') errors.text = 'templates.error.textMissing';
  else if (characterCount(text) > TEMPLATE_TEXT_MAX) errors.text = 'templates.error.textTooLong';
  else if (CONTROL_IN_TEXT.test(text)) errors.text = 'templates.error.textControl';
  if (Object.keys(errors).length > 0) return { errors };
  return { template: { id, title, text } };
}

/** Lower case, without accents: "Résultats" and "resu" meet. */
export function searchable(value: string): string {
  return value.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
}

/** The templates whose title contains the query (case and accents ignored), in their order. */
export function filterTemplates(templates: readonly ReplyTemplate[], query: string): ReplyTemplate[] {
  const wanted = searchable(query.trim());
  if (wanted === '') return [...templates];
  return templates.filter((template) => searchable(template.title).includes(wanted));
}

/** The text on one line, for a list. */
export function previewOf(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
