/**
 * The message input: textarea with a character counter, "Urgent" and "Réponse attendue"
 * toggles, the question category (the record's patient only), emoji picker, attachments,
 * send. Enter sends, Shift+Enter adds a line. The text, flags, category and uploaded
 * attachments are kept as a draft for the conversation. A doctor also inserts reply
 * templates: `/` in an empty draft, or the "Modèles" button, opens a picker; the pick is
 * rendered for the record by Rust and replaces the `/…` typed (the button's pick goes
 * where the caret was). Nothing is sent until the doctor sends it.
 */
import { useEffect, useId, useRef, useState, type ChangeEvent, type KeyboardEvent, type RefObject } from 'react';
import { commands, errorCode, type ContextSummary, type ErrorCode, type Limits, type QuestionCategory, type ReplyTemplate, type User } from '../../api';
import { useI18n, type MessageKey } from '../../i18n';
import { FileIcon, PaperclipIcon, ReplyIcon, SendIcon, SmileIcon, WarningIcon } from '../../components/icons';
import { Spinner } from '../../components/Spinner';
import { errorKey } from '../../app/errorMessages';
import { AttachmentChips, RejectionList } from '../attachments/AttachmentChips';
import type { AttachmentsController } from '../attachments/useAttachments';
import { acceptAttribute } from '../attachments/validation';
import { CategorySelect } from '../contexts/CategorySelect';
import { categoriesFor } from '../contexts/questions';
import { characterCount, counterLevel } from './conversationState';
import { useDrafts } from './drafts';
import { EmojiPicker } from './EmojiPicker';
import { VoiceRecorder } from '../media/VoiceRecorder';
import { useTypingSender } from './useTyping';
import { TemplatePicker, useTemplatePicker, type PickerMode } from '../templates/TemplatePicker';
import type { OutgoingMessage } from './useConversation';

type ComposerProps = {
  context: ContextSummary;
  me: User;
  limits: Limits;
  attachments: AttachmentsController;
  /** Resolves `false` when the send was refused before being queued: the text comes back. */
  onSend: (message: OutgoingMessage) => Promise<boolean>;
  /** Why sending is impossible right now (offline reading…), if it is; a closed conversation shows no composer. */
  blockedReason?: MessageKey | null;
  textareaRef: RefObject<HTMLTextAreaElement | null>;
};

const COUNTER_STYLE = {
  ok: 'text-slate-400',
  near: 'text-orange-500 font-medium',
  limit: 'text-red-600 font-semibold',
  over: 'text-red-600 font-bold',
} as const;

export function Composer({ context, me, limits, attachments, onSend, blockedReason, textareaRef }: ComposerProps) {
  const { t, format } = useI18n();
  const drafts = useDrafts();
  const ref = { type: context.type, id: context.id };
  const initial = useRef(drafts.get(me.id, ref)).current;
  const [text, setText] = useState(initial.text);
  const [isUrgent, setUrgent] = useState(initial.isUrgent);
  const [requiresResponse, setRequiresResponse] = useState(initial.requiresResponse);
  // Only the record's patient picks a category (the server refuses one on a doctor's
  // message), among the record's own categories and "other".
  const asPatient = me.id === context.patient.id;
  const categories = asPatient ? categoriesFor(context) : [];
  const [chosenCategory, setCategory] = useState<QuestionCategory | null>(initial.category);
  const category = chosenCategory !== null && categories.includes(chosenCategory) ? chosenCategory : null;
  const [sending, setSending] = useState(false);
  const [emojiOpen, setEmojiOpen] = useState(false);
  const fileInput = useRef<HTMLInputElement>(null);
  const emojiButton = useRef<HTMLButtonElement>(null);
  const typing = useTypingSender(ref);
  const ids = { counter: useId(), hint: useId(), emoji: useId(), over: useId(), label: useId(), category: useId() };
  // Reply templates: a doctor's only.
  const asDoctor = me.type === 'medecin';
  const templatesButton = useRef<HTMLButtonElement>(null);
  /** The draft as last rendered, for the template that answers after the doctor went on typing. */
  const textNow = useRef(text);
  /** The selection when the "Modèles" button was pressed: where its template goes. */
  const selectionAtOpen = useRef<{ start: number; end: number } | null>(null);
  const [inserting, setInserting] = useState(false);
  const [templateError, setTemplateError] = useState<ErrorCode | null>(null);
  const picker = useTemplatePicker({
    enabled: asDoctor && !blockedReason,
    text,
    onPick: (template, mode) => void insertTemplate(template, mode),
  });

  useEffect(() => {
    textNow.current = text;
  }, [text]);

  useEffect(() => {
    drafts.set(me.id, ref, { text, isUrgent, requiresResponse, category, attachments: attachments.ready });
    // `ref` is rebuilt each render from the two ids below.
  }, [drafts, me.id, context.type, context.id, text, isUrgent, requiresResponse, category, attachments.ready]);

  const count = characterCount(text);
  const level = counterLevel(count, limits.maxMessageLength);
  const empty = text.trim() === '' && attachments.ready.length === 0;
  const canSend = !empty && level !== 'over' && !attachments.uploading && !sending && !inserting && !blockedReason;

  const submit = async () => {
    if (!canSend) return;
    setSending(true);
    typing.stop();
    const outgoing = { content: text.trim(), isUrgent, requiresResponse, category, attachments: attachments.ready };
    // Clear first: a refused send shows up as a red message with "Réessayer", not as a
    // stuck input. A send refused before it was queued gives its text and flags back.
    setText('');
    setUrgent(false);
    setRequiresResponse(false);
    setCategory(null);
    attachments.reset();
    try {
      const queued = await onSend(outgoing);
      if (!queued) {
        setText((current) => (current === '' ? outgoing.content : current));
        setUrgent((current) => current || outgoing.isUrgent);
        setRequiresResponse((current) => current || outgoing.requiresResponse);
        setCategory((current) => current ?? outgoing.category);
        if (outgoing.attachments.length > 0) attachments.restore(outgoing.attachments);
      }
    } finally {
      setSending(false);
      textareaRef.current?.focus();
    }
  };

  const onChange = (event: ChangeEvent<HTMLTextAreaElement>) => {
    const value = event.target.value;
    if (asDoctor && text === '' && value.startsWith('/')) {
      // `/` first in an empty draft: the rest of the line filters the doctor's templates.
      setTemplateError(null);
      picker.open('slash');
    } else if (picker.mode === 'slash' && (!value.startsWith('/') || value.includes('\n'))) {
      picker.close();
    }
    setText(value);
    typing.onInput(value);
  };

  /**
   * Puts a picked template in the draft: rendered for this record by Rust, it replaces
   * the `/…` typed (or goes where the caret was, from the button). Focus stays in the
   * textarea for the doctor to read and change it; nothing is sent.
   */
  const insertTemplate = async (template: ReplyTemplate, mode: PickerMode) => {
    const before = textNow.current;
    const range = mode === 'button' ? (selectionAtOpen.current ?? { start: before.length, end: before.length }) : null;
    setTemplateError(null);
    setInserting(true);
    textareaRef.current?.focus();
    try {
      const rendered = await commands.renderTemplate({ contextType: context.type, contextId: context.id, template });
      const current = textNow.current;
      let next: string;
      let caret: number;
      if (range === null) {
        // The doctor removed the `/…` while Rust rendered: their text wins.
        if (!current.startsWith(before)) return;
        // What was typed after the `/…` meanwhile stays after the template.
        next = rendered + current.slice(before.length);
        caret = rendered.length;
      } else if (current === before) {
        next = before.slice(0, range.start) + rendered + before.slice(range.end);
        caret = range.start + rendered.length;
      } else {
        next = current + rendered;
        caret = next.length;
      }
      setText(next);
      typing.onInput(next);
      requestAnimationFrame(() => textareaRef.current?.setSelectionRange(caret, caret));
    } catch (caught) {
      setTemplateError(errorCode(caught));
    } finally {
      setInserting(false);
      textareaRef.current?.focus();
    }
  };

  const toggleTemplates = () => {
    if (picker.mode) {
      picker.close();
      return;
    }
    const el = textareaRef.current;
    selectionAtOpen.current = el ? { start: el.selectionStart, end: el.selectionEnd } : null;
    setTemplateError(null);
    picker.open('button');
  };

  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    // The picker takes its keys first: Enter picks a template, it never sends.
    if (picker.mode === 'slash' && picker.onKeyDown(event)) return;
    if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      void submit();
    }
  };

  const insertEmoji = (emoji: string) => {
    const el = textareaRef.current;
    const start = el?.selectionStart ?? text.length;
    const end = el?.selectionEnd ?? text.length;
    const next = text.slice(0, start) + emoji + text.slice(end);
    setText(next);
    typing.onInput(next);
    setEmojiOpen(false);
    requestAnimationFrame(() => {
      if (!el) return;
      el.focus();
      const caret = start + emoji.length;
      el.setSelectionRange(caret, caret);
    });
  };

  const onFiles = (event: ChangeEvent<HTMLInputElement>) => {
    const files = Array.from(event.target.files ?? []);
    event.target.value = '';
    if (files.length > 0) attachments.addFiles(files);
  };

  const toggleClass = (on: boolean, tone: 'red' | 'amber' | 'blue') =>
    `inline-flex items-center gap-1 rounded-full px-2.5 py-1 text-xs font-semibold ring-1 transition-colors focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-1 focus-visible:outline-blue-600 ${
      on
        ? tone === 'red'
          ? 'bg-red-600 text-white ring-red-600'
          : tone === 'amber'
            ? 'bg-amber-500 text-white ring-amber-500'
            : 'bg-blue-600 text-white ring-blue-600'
        : 'bg-white text-slate-600 ring-slate-300 hover:bg-slate-50'
    }`;
  const iconButton =
    'rounded-lg p-2 text-slate-500 hover:bg-slate-100 hover:text-slate-800 focus-visible:outline focus-visible:outline-2 focus-visible:outline-blue-600 disabled:opacity-40';

  return (
    <div className="border-t border-slate-200 bg-white px-3 pb-3 pt-2 sm:px-4">
      <div className="space-y-2">
        <RejectionList
          rejections={attachments.rejections}
          maxSize={format.fileSize(limits.maxFileSize)}
          types={limits.allowedFileTypes.map((x) => x.toUpperCase()).join(', ')}
          onDismiss={attachments.dismissRejections}
        />
        <AttachmentChips controller={attachments} />
        {blockedReason && (
          <p role="status" className="rounded-lg bg-slate-100 px-3 py-2 text-sm text-slate-700">
            {t(blockedReason)}
          </p>
        )}
      </div>

      <div className="mt-2 flex flex-wrap items-center gap-2" role="group" aria-label={t('composer.options')}>
        <button type="button" aria-pressed={isUrgent} onClick={() => setUrgent((v) => !v)} className={toggleClass(isUrgent, 'red')}>
          <WarningIcon className="h-3.5 w-3.5" />
          {t('composer.urgent')}
        </button>
        <button
          type="button"
          aria-pressed={requiresResponse}
          onClick={() => setRequiresResponse((v) => !v)}
          className={toggleClass(requiresResponse, 'amber')}
        >
          <ReplyIcon className="h-3.5 w-3.5" />
          {t('composer.requiresResponse')}
        </button>
        {asDoctor && (
          <button
            ref={templatesButton}
            type="button"
            aria-haspopup="listbox"
            aria-expanded={picker.mode !== null}
            aria-controls={picker.mode ? picker.listboxId : undefined}
            onClick={toggleTemplates}
            disabled={Boolean(blockedReason)}
            className={`${toggleClass(picker.mode === 'button', 'blue')} disabled:opacity-40`}
          >
            <FileIcon className="h-3.5 w-3.5" />
            {t('templates.open')}
          </button>
        )}
        {asPatient && (
          <span className="flex min-w-0 max-w-full items-center gap-1.5">
            <label htmlFor={ids.category} className="shrink-0 text-xs font-medium text-slate-600">
              {t('composer.category')}
            </label>
            <CategorySelect
              id={ids.category}
              value={category}
              onChange={setCategory}
              categories={categories}
              emptyLabel="composer.categoryNone"
              testId="question-category"
              className={`min-w-0 max-w-full truncate rounded-lg border-0 px-2 py-1 text-xs font-semibold ring-1 focus:outline-none focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-1 focus-visible:outline-blue-600 ${
                category ? 'bg-blue-50 text-blue-800 ring-blue-400' : 'bg-white text-slate-600 ring-slate-300 hover:bg-slate-50'
              }`}
            />
          </span>
        )}
      </div>

      <div className="relative mt-2">
        {picker.mode && (
          <TemplatePicker
            picker={picker}
            onDismiss={() => templatesButton.current?.focus()}
          />
        )}
        <div className="flex items-end gap-1.5 rounded-2xl border border-slate-300 bg-white p-1.5 shadow-sm focus-within:border-blue-500 focus-within:ring-2 focus-within:ring-blue-500/30">
          <div className="relative flex">
            <button
              ref={emojiButton}
              type="button"
              aria-label={t('emoji.open')}
              aria-expanded={emojiOpen}
              aria-controls={emojiOpen ? ids.emoji : undefined}
              aria-haspopup="dialog"
              onClick={() => setEmojiOpen((v) => !v)}
              className={iconButton}
            >
              <SmileIcon />
            </button>
            {emojiOpen && (
              <EmojiPicker
                id={ids.emoji}
                onPick={insertEmoji}
                onClose={() => {
                  setEmojiOpen(false);
                  emojiButton.current?.focus();
                }}
              />
            )}
            <button
              type="button"
              aria-label={t('attachments.add')}
              title={t('attachments.addHint', {
                types: limits.allowedFileTypes.map((x) => x.toUpperCase()).join(', '),
                max: format.fileSize(limits.maxFileSize),
                count: limits.maxAttachments,
              })}
              onClick={() => fileInput.current?.click()}
              disabled={Boolean(blockedReason)}
              className={iconButton}
            >
              <PaperclipIcon />
            </button>
            <input
              ref={fileInput}
              type="file"
              multiple
              accept={acceptAttribute(limits)}
              onChange={onFiles}
              className="hidden"
              data-testid="file-input"
              tabIndex={-1}
              aria-hidden="true"
            />
            <VoiceRecorder disabled={!!blockedReason} onAttached={attachments.addAttachment} />
          </div>

          <label htmlFor={ids.label} className="sr-only">
            {t('composer.label')}
          </label>
          <textarea
            ref={textareaRef}
            id={ids.label}
            rows={1}
            value={text}
            onChange={onChange}
            onKeyDown={onKeyDown}
            onBlur={() => {
              typing.stop();
              if (picker.mode === 'slash') picker.close();
            }}
            disabled={Boolean(blockedReason)}
            placeholder={t('composer.placeholder')}
            aria-describedby={`${ids.counter} ${ids.hint}${level === 'over' ? ` ${ids.over}` : ''}`}
            aria-invalid={level === 'over' ? true : undefined}
            aria-autocomplete={asDoctor ? 'list' : undefined}
            {...picker.inputProps}
            className="max-h-40 min-h-[2.5rem] flex-1 resize-none border-0 bg-transparent px-1 py-2 text-[15px] text-slate-900 placeholder:text-slate-400 focus:outline-none focus:ring-0 [field-sizing:content]"
          />

          <button
            type="button"
            onClick={() => void submit()}
            disabled={!canSend}
            aria-label={t('composer.send')}
            className="flex h-10 w-10 shrink-0 items-center justify-center rounded-full bg-blue-600 text-white shadow transition-colors hover:bg-blue-700 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-blue-600 disabled:bg-slate-300"
          >
            {sending ? <Spinner /> : <SendIcon className="h-5 w-5" />}
          </button>
        </div>
      </div>

      {templateError && (
        <p role="alert" className="mt-1 px-1 text-sm text-red-700">
          {t('templates.insertFailed')} {t(errorKey(templateError))}
        </p>
      )}

      <div className="mt-1 flex items-start justify-between gap-2 px-1 text-xs">
        <p id={ids.hint} className="hidden text-slate-400 sm:block">
          {t('composer.hint')}
        </p>
        {level === 'over' && (
          <p id={ids.over} role="alert" className="text-red-600">
            {t('composer.tooLong', { max: limits.maxMessageLength })}
          </p>
        )}
        <p id={ids.counter} className={`ml-auto tabular-nums ${COUNTER_STYLE[level]}`} data-level={level}>
          <span aria-hidden="true">
            {format.number(count)} / {format.number(limits.maxMessageLength)}
          </span>
          <span className="sr-only">{t('composer.counter', { count, max: limits.maxMessageLength })}</span>
        </p>
      </div>
    </div>
  );
}
