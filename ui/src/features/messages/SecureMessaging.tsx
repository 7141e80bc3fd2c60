/**
 * The secure conversation about one DMP record: a modal that slides in (full screen on
 * small widths), with the record and the other participant in its header, the message
 * list, typing indicator and composer, plus search, export, safety code, drag-and-drop
 * attachments. Focus is trapped inside; Escape closes it. The doctor closes and reopens
 * the conversation from its header, either participant archives it; while it is closed
 * a banner stands in for the composer. The record's patient opens the conversation's
 * access log from the header, and sees above the composer when the doctor is away (the
 * patient can still write; the doctor reads it on return) and when the doctor reads
 * messages (their office hours).
 */
import { useCallback, useEffect, useId, useRef, useState, type DragEvent, type KeyboardEvent } from 'react';
import { commands, errorCode, type CloseReason, type ContextSummary, type ErrorCode, type UiMessage as Message, type User } from '../../api';
import { useI18n } from '../../i18n';
import { ClockIcon, CloseIcon, LockIcon, PaperclipIcon, SearchIcon, ShieldIcon, ChevronLeftIcon } from '../../components/icons';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { Dialog } from '../../components/Dialog';
import { Spinner } from '../../components/Spinner';
import { trapTab, useFocusTrap } from '../../components/useFocusTrap';
import { errorKey } from '../../app/errorMessages';
import { useLimits } from '../../app/limits';
import { ConnectionDot, PresenceLabel } from '../connection/ConnectionDot';
import { useConnection } from '../connection/useConnection';
import { supportedContexts } from '../contexts/supportedContexts';
import { peerOf } from '../contexts/useContexts';
import { DoctorAbsenceNotice, doctorAbsenceFor } from '../contexts/DoctorAbsence';
import { DoctorOfficeHoursLine, doctorOfficeHoursFor } from '../contexts/DoctorOfficeHours';
import { ConversationSearch } from '../search/ConversationSearch';
import { ExportMenu } from '../export/ExportMenu';
import { SafetyCode } from '../settings/SafetyCode';
import { useAttachments } from '../attachments/useAttachments';
import { Composer } from './Composer';
import { MessageList } from './MessageList';
import { TypingIndicator } from './TypingIndicator';
import { useConversation, type OutgoingMessage, type SendResult } from './useConversation';
import { newerSession } from './conversationState';
import { ClosedBanner, CloseConversationDialog, LifecycleBar } from './ConversationLifecycle';
import { AccessLogButton } from './AccessLog';
import { closeReasonOf, latestSystemEvent, systemNoticeSpeech, systemNoticeText } from './systemEvents';
import { useTypingIndicator } from './useTyping';
import { useMarkRead } from './useMarkRead';
import { useDrafts } from './drafts';

type SecureMessagingProps = {
  context: ContextSummary;
  me: User;
  onClose: () => void;
};

type Notice = { tone: 'info' | 'error'; text: string };

const NOTICE_MS = 8000;

export function SecureMessaging({ context, me, onClose }: SecureMessagingProps) {
  const { t, format } = useI18n();
  const limits = useLimits();
  const drafts = useDrafts();
  const ref = { type: context.type, id: context.id };
  const meta = supportedContexts[context.type];
  const peer = peerOf(context, me);
  const conversation = useConversation(context);
  const { readOnly, state: linkState } = useConnection();
  const { state } = conversation;
  const typists = useTypingIndicator(ref, me.id);
  const attachments = useAttachments(limits, drafts.get(me.id, ref).attachments);

  const panelRef = useRef<HTMLDivElement>(null);
  const scrollRef = useRef<HTMLDivElement>(null);
  const textareaRef = useRef<HTMLTextAreaElement>(null);
  const titleId = useId();
  const descriptionId = useId();
  const absenceId = useId();

  const [searchOpen, setSearchOpen] = useState(false);
  const [safetyOpen, setSafetyOpen] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState<Message | null>(null);
  const [notice, setNotice] = useState<Notice | null>(null);
  const [announcement, setAnnouncement] = useState('');
  const [jumpTarget, setJumpTarget] = useState<string | null>(null);
  const [highlightId, setHighlightId] = useState<string | null>(null);
  const [dragging, setDragging] = useState(false);
  const [scrollElement, setScrollElement] = useState<HTMLDivElement | null>(null);
  const [closeDialogOpen, setCloseDialogOpen] = useState(false);
  const [lifecycleBusy, setLifecycleBusy] = useState(false);
  const lifecycleButtonRef = useRef<HTMLButtonElement>(null);
  /** Set by a lifecycle action: focus goes back to the header once it is done. */
  const refocusLifecycle = useRef(false);
  const dragDepth = useRef(0);

  // The newest of what the inbox says (`dmp://inbox`) and what the conversation saw
  // (history, live `system` messages, the answer of a close / reopen / archive).
  const session = newerSession(context.session, state.session);
  const status = session?.status ?? null;
  const closed = status === 'closed';

  useFocusTrap(panelRef, textareaRef);
  useMarkRead({
    root: scrollElement,
    messages: state.messages,
    meId: me.id,
    markRead: conversation.markRead,
    enabled: !readOnly,
    retryKey: linkState,
  });

  // The shell does not raise native notifications for the conversation on screen.
  useEffect(() => {
    void commands.setOpenConversation({ type: context.type, id: context.id }).catch(() => undefined);
    return () => {
      void commands.setOpenConversation(null).catch(() => undefined);
    };
  }, [context.type, context.id]);

  useEffect(() => {
    if (!notice) return undefined;
    const timer = setTimeout(() => setNotice(null), NOTICE_MS);
    return () => clearTimeout(timer);
  }, [notice]);

  const showError = useCallback((code: ErrorCode) => setNotice({ tone: 'error', text: t(errorKey(code)) }), [t]);
  const showSaved = useCallback((path: string) => setNotice({ tone: 'info', text: t('attachments.saved', { path }) }), [t]);
  const showExported = useCallback((path: string) => setNotice({ tone: 'info', text: t('export.done', { path }) }), [t]);

  // Search → jump: load older pages until the message is there, then highlight it.
  const { loadOlder } = conversation;
  useEffect(() => {
    if (!jumpTarget) return;
    if (state.messages.some((m) => m.id === jumpTarget)) {
      setHighlightId(jumpTarget);
      setJumpTarget(null);
    } else if (state.hasMore && !state.loadingOlder && !state.olderError) {
      void loadOlder();
    } else if (!state.hasMore || state.olderError) {
      setJumpTarget(null);
      setNotice({ tone: 'error', text: t('search.notLoaded') });
    }
  }, [jumpTarget, state.messages, state.hasMore, state.loadingOlder, state.olderError, loadOlder, t]);

  useEffect(() => {
    if (!highlightId) return undefined;
    const timer = setTimeout(() => setHighlightId(null), 3000);
    return () => clearTimeout(timer);
  }, [highlightId]);

  const onIncoming = useCallback(
    (messages: Message[]) => {
      const last = messages[messages.length - 1];
      if (!last) return;
      if (last.type === 'system') {
        setAnnouncement(systemNoticeSpeech(systemNoticeText(last, t, format, me.id)));
        return;
      }
      const content = last.deletedAt
        ? t('message.deleted')
        : last.content.length > 140
          ? `${last.content.slice(0, 140)}…`
          : last.content || t('messages.attachmentOnly');
      setAnnouncement(t('messages.announce', { name: last.sender.name, content }));
    },
    [t, format, me.id],
  );

  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      onClose();
    } else if (event.key === 'Tab' && panelRef.current) {
      trapTab(event, panelRef.current);
    }
  };

  // Nothing can be attached to a closed conversation.
  const hasFiles = (event: DragEvent) => !closed && Array.from(event.dataTransfer?.types ?? []).includes('Files');
  const onDragEnter = (event: DragEvent) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    dragDepth.current += 1;
    setDragging(true);
  };
  const onDragOver = (event: DragEvent) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = 'copy';
  };
  const onDragLeave = () => {
    dragDepth.current = Math.max(0, dragDepth.current - 1);
    if (dragDepth.current === 0) setDragging(false);
  };
  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    dragDepth.current = 0;
    setDragging(false);
    if (closed) return;
    const files = Array.from(event.dataTransfer?.files ?? []);
    if (files.length > 0) attachments.addFiles(files);
  };

  const { send, retry, discard } = conversation;
  const onSend = useCallback(
    async (outgoing: OutgoingMessage) => {
      const result = await send(outgoing);
      if (!result.ok) showError(result.code);
      return result.ok;
    },
    [send, showError],
  );
  const onRetry = useCallback(
    (message: Message) => void retry(message).then((result) => !result.ok && showError(result.code)),
    [retry, showError],
  );
  const onDiscard = useCallback(
    (message: Message) => void discard(message).then((result) => !result.ok && showError(result.code)),
    [discard, showError],
  );

  const { close: closeConversation, reopen: reopenConversation, archive: archiveConversation } = conversation;
  const runLifecycle = useCallback(
    async (action: () => Promise<SendResult>) => {
      setLifecycleBusy(true);
      refocusLifecycle.current = true;
      const result = await action();
      setLifecycleBusy(false);
      if (!result.ok) showError(result.code);
    },
    [showError],
  );
  const onConfirmClose = useCallback(
    (reason: CloseReason | null) => {
      setCloseDialogOpen(false);
      void runLifecycle(() => closeConversation(reason));
    },
    [runLifecycle, closeConversation],
  );
  // The button that was used may be gone (Clôturer becomes Rouvrir, Archiver goes):
  // focus returns to the header's lifecycle button, or the composer, not to nowhere.
  useEffect(() => {
    if (lifecycleBusy || !refocusLifecycle.current) return;
    refocusLifecycle.current = false;
    const active = document.activeElement;
    if (active === null || active === document.body) (lifecycleButtonRef.current ?? textareaRef.current)?.focus();
  }, [lifecycleBusy, status]);

  // Closed meanwhile (another window, a live event): there is nothing left to confirm.
  useEffect(() => {
    if (closed) setCloseDialogOpen(false);
  }, [closed]);

  const blockedReason = readOnly ? ('conversation.readOnly' as const) : null;
  // The reason of the latest close, when the loaded messages hold it.
  const closeReason = closed ? closeReasonOf(latestSystemEvent(state.messages)) : null;
  // The header speaks to whoever reads it: the patient sees what the exchange is for,
  // the doctor sees whose record it is.
  const doctorView = me.type === 'medecin';
  // The patient's question that waits: when an answer can be expected (the doctor's
  // inbox shows the same wait from the other side). None once the doctor has closed it.
  // The record's own patient (never the doctor): the one who sees the access log.
  const ownRecord = !doctorView && me.id === context.patient.id;
  const awaiting = ownRecord && !closed ? context.awaitingAnswer : null;
  // The doctor is away: told before writing, while writing is possible.
  const absence = closed ? null : doctorAbsenceFor(context, me);
  // When the doctor reads messages: told before writing too.
  const hours = closed ? null : doctorOfficeHoursFor(context, me);
  const heading = doctorView ? context.patient.name : t(meta.title);
  const subheading = doctorView
    ? t('conversation.doctorSubtitle', { kind: t(meta.kind), title: context.title })
    : t(meta.description);
  const headerButton =
    'rounded-lg p-2 text-slate-500 hover:bg-slate-100 hover:text-slate-900 focus-visible:outline focus-visible:outline-2 focus-visible:outline-blue-600 aria-pressed:bg-blue-50 aria-pressed:text-blue-700';

  return (
    <div className="fixed inset-0 z-40 flex justify-end">
      <div className="absolute inset-0 bg-slate-900/40 motion-safe:animate-fade-in" aria-hidden="true" onClick={onClose} />
      <div
        ref={panelRef}
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        aria-describedby={absence ? `${descriptionId} ${absenceId}` : descriptionId}
        onKeyDown={onKeyDown}
        onDragEnter={onDragEnter}
        onDragOver={onDragOver}
        onDragLeave={onDragLeave}
        onDrop={onDrop}
        data-testid="secure-messaging"
        className="relative flex h-full w-full flex-col bg-white shadow-2xl sm:max-w-xl lg:max-w-2xl motion-safe:animate-slide-in"
      >
        <header className="shrink-0 border-b border-slate-200 bg-white px-3 pb-3 pt-3 sm:px-4">
          <div className="flex items-start gap-3">
            <button type="button" onClick={onClose} aria-label={t('conversation.close')} className={`${headerButton} -ml-1 sm:hidden`}>
              <ChevronLeftIcon />
            </button>
            <span
              aria-hidden="true"
              data-testid="context-icon"
              className={`hidden h-11 w-11 shrink-0 items-center justify-center rounded-xl sm:flex ${
                context.type === 'ordonnance' ? 'bg-emerald-50 text-emerald-700' : 'bg-violet-50 text-violet-700'
              }`}
            >
              <meta.Icon className="h-6 w-6" />
            </span>
            <div className="min-w-0 flex-1">
              <h2
                id={titleId}
                data-testid="conversation-title"
                className="flex min-w-0 items-center gap-1 text-base font-bold leading-tight text-slate-900 sm:text-lg"
              >
                <meta.Icon className="h-4 w-4 shrink-0 text-slate-500 sm:hidden" />
                <span className="truncate">{heading}</span>
              </h2>
              <p id={descriptionId} className="mt-0.5 line-clamp-2 break-words text-xs text-slate-600 sm:text-sm">
                {subheading}
              </p>
            </div>
            <div className="flex shrink-0 items-center">
              <button
                type="button"
                aria-label={t('search.toggle')}
                title={t('search.toggle')}
                aria-pressed={searchOpen}
                onClick={() => setSearchOpen((v) => !v)}
                className={headerButton}
              >
                <SearchIcon />
              </button>
              <ExportMenu context={ref} onExported={showExported} onError={showError} buttonClassName={headerButton} />
              {ownRecord && <AccessLogButton context={ref} meId={me.id} disabled={readOnly} buttonClassName={headerButton} />}
              <button
                type="button"
                aria-label={t('safety.open', { name: peer.name })}
                title={t('safety.title')}
                onClick={() => setSafetyOpen(true)}
                className={headerButton}
              >
                <ShieldIcon />
              </button>
              <button type="button" onClick={onClose} aria-label={t('conversation.close')} className={`${headerButton} hidden sm:inline-flex`}>
                <CloseIcon />
              </button>
            </div>
          </div>
          <div className="mt-2 flex flex-wrap items-center gap-x-3 gap-y-1 rounded-lg bg-slate-50 px-3 py-1.5 text-xs text-slate-600">
            <span className="min-w-0 max-w-full truncate">
              <span className="font-semibold text-slate-800">{context.title}</span>
              {' · '}
              <time dateTime={context.date}>{format.recordDate(context.date)}</time>
            </span>
            <span className="flex items-center gap-2">
              <span className="font-medium text-slate-800">{peer.name}</span>
              <PresenceLabel userId={peer.id} />
            </span>
            <ConnectionDot showLabel className="ml-auto text-slate-500" />
          </div>
          <p className="mt-1.5 flex items-center gap-1 text-[11px] text-emerald-700">
            <LockIcon className="h-3 w-3" />
            {t('conversation.e2e', { name: peer.name })}
          </p>
          {awaiting && (
            <p data-testid="answer-expected" className="mt-1.5 flex items-center gap-1 text-xs font-medium text-amber-800">
              <ClockIcon className="h-3.5 w-3.5 shrink-0" />
              <span className="min-w-0">{t('conversation.answerExpected', { date: format.date(awaiting.dueAt) })}</span>
            </p>
          )}
          <LifecycleBar
            status={status}
            doctorView={doctorView}
            busy={lifecycleBusy}
            disabled={readOnly}
            onClose={() => setCloseDialogOpen(true)}
            onReopen={() => void runLifecycle(reopenConversation)}
            onArchive={() => void runLifecycle(archiveConversation)}
            buttonRef={lifecycleButtonRef}
          />
          {status === 'archived' && (
            <p data-testid="conversation-archived" className="mt-1 text-[11px] text-slate-500">
              {t('conversation.archived')}
            </p>
          )}
        </header>

        {searchOpen && (
          <ConversationSearch
            context={ref}
            onClose={() => setSearchOpen(false)}
            onJump={(message) => {
              setHighlightId(null);
              setJumpTarget(message.id);
            }}
          />
        )}

        {notice && (
          <div
            role={notice.tone === 'error' ? 'alert' : 'status'}
            className={`mx-3 mt-2 flex items-start gap-2 rounded-lg px-3 py-2 text-sm ring-1 ${
              notice.tone === 'error' ? 'bg-red-50 text-red-800 ring-red-200' : 'bg-emerald-50 text-emerald-900 ring-emerald-200'
            }`}
          >
            <span className="min-w-0 flex-1 break-all">{notice.text}</span>
            <button type="button" onClick={() => setNotice(null)} aria-label={t('common.dismiss')} className="rounded p-0.5 hover:bg-black/5">
              <CloseIcon className="h-4 w-4" />
            </button>
          </div>
        )}

        {state.status === 'loading' && (
          <div className="flex flex-1 items-center justify-center">
            <Spinner label={t('messages.loading')} className="h-6 w-6 text-blue-600" />
          </div>
        )}
        {state.status === 'error' && (
          <div role="alert" className="m-4 rounded-xl bg-red-50 p-4 text-sm text-red-800">
            <p>{t(errorKey(state.error ?? 'INTERNAL'))}</p>
            <button type="button" onClick={() => void conversation.reload()} className="mt-2 font-semibold underline">
              {t('common.retry')}
            </button>
          </div>
        )}
        {state.status === 'ready' && state.messages.length === 0 && (
          <div className="flex flex-1 flex-col items-center justify-center px-8 text-center">
            <meta.Icon className="h-10 w-10 text-slate-400" />
            <p className="mt-3 font-medium text-slate-800">{t('messages.emptyTitle')}</p>
            <p className="mt-1 text-sm text-slate-500">{t('messages.emptyBody', { name: peer.name })}</p>
          </div>
        )}
        {state.status === 'ready' && state.messages.length > 0 && (
          <MessageList
            messages={state.messages}
            meId={me.id}
            hasMore={state.hasMore}
            loadingOlder={state.loadingOlder}
            onLoadOlder={() => void conversation.loadOlder()}
            highlightId={highlightId}
            onRetry={onRetry}
            onDiscard={onDiscard}
            onDelete={setConfirmDelete}
            onDownloaded={showSaved}
            onError={showError}
            onIncoming={onIncoming}
            scrollRef={scrollRef}
            onScrollElement={setScrollElement}
          />
        )}

        <TypingIndicator typists={typists} />
        <div aria-live="polite" className="sr-only" data-testid="announcer">
          {announcement}
        </div>

        {(absence || hours) && (
          <div className="shrink-0 space-y-1 border-t border-slate-200 bg-white px-3 pt-2 sm:px-4">
            {absence && <DoctorAbsenceNotice absence={absence} id={absenceId} />}
            {hours && <DoctorOfficeHoursLine hours={hours} doctorName={context.doctor.name} />}
          </div>
        )}
        {closed ? (
          <ClosedBanner doctorView={doctorView} reason={closeReason} />
        ) : (
          <Composer
            context={context}
            me={me}
            limits={limits}
            attachments={attachments}
            onSend={onSend}
            blockedReason={blockedReason}
            textareaRef={textareaRef}
          />
        )}

        {dragging && (
          <div
            aria-hidden="true"
            className="pointer-events-none absolute inset-2 z-30 flex flex-col items-center justify-center rounded-2xl border-2 border-dashed border-blue-500 bg-blue-50/90 text-blue-800"
          >
            <PaperclipIcon className="h-10 w-10" />
            <p className="mt-2 font-semibold">{t('attachments.dropHere')}</p>
            <p className="text-sm">
              {t('attachments.dropHint', {
                types: limits.allowedFileTypes.map((x) => x.toUpperCase()).join(', '),
                max: format.fileSize(limits.maxFileSize),
              })}
            </p>
          </div>
        )}
      </div>

      {confirmDelete && (
        <ConfirmDialog
          title={t('message.deleteConfirmTitle')}
          description={t('message.deleteConfirmBody')}
          confirmLabel={t('message.delete')}
          cancelLabel={t('common.cancel')}
          danger
          onCancel={() => setConfirmDelete(null)}
          onConfirm={() => {
            const message = confirmDelete;
            setConfirmDelete(null);
            conversation.remove(message).catch((caught: unknown) => showError(errorCode(caught)));
          }}
        />
      )}
      {closeDialogOpen && <CloseConversationDialog onCancel={() => setCloseDialogOpen(false)} onConfirm={onConfirmClose} />}
      {safetyOpen && (
        <Dialog title={t('safety.title')} onClose={() => setSafetyOpen(false)}>
          <SafetyCode peer={peer} />
          <div className="mt-4 flex justify-end">
            <button
              type="button"
              onClick={() => setSafetyOpen(false)}
              className="rounded-lg bg-slate-900 px-4 py-2 text-sm font-semibold text-white hover:bg-slate-700"
            >
              {t('common.close')}
            </button>
          </div>
        </Dialog>
      )}
    </div>
  );
}
