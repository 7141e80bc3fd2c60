/** The search bar of a conversation and its results; choosing one jumps to the message. */
import { useEffect, useId, useRef, useState, type KeyboardEvent } from 'react';
import type { ContextRef, Message } from '../../api';
import { useI18n } from '../../i18n';
import { SearchIcon, CloseIcon } from '../../components/icons';
import { Spinner } from '../../components/Spinner';
import { errorKey } from '../../app/errorMessages';
import { Snippet } from './snippet';
import { useSearch } from './useSearch';

type ConversationSearchProps = {
  context: ContextRef;
  onJump: (message: Message) => void;
  onClose: () => void;
};

export function ConversationSearch({ context, onJump, onClose }: ConversationSearchProps) {
  const { t, format } = useI18n();
  const [query, setQuery] = useState('');
  const { hits, status, error } = useSearch(context, query);
  const inputRef = useRef<HTMLInputElement>(null);
  const id = useId();

  useEffect(() => inputRef.current?.focus(), []);

  const onKeyDown = (event: KeyboardEvent) => {
    if (event.key === 'Escape') {
      event.stopPropagation();
      onClose();
    }
  };

  return (
    <div className="border-b border-slate-200 bg-slate-50 px-3 py-2" onKeyDown={onKeyDown}>
      <div className="flex items-center gap-2">
        <label htmlFor={id} className="sr-only">
          {t('search.label')}
        </label>
        <div className="relative flex-1">
          <SearchIcon className="pointer-events-none absolute left-2.5 top-2.5 h-4 w-4 text-slate-400" />
          <input
            ref={inputRef}
            id={id}
            type="search"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
            placeholder={t('search.placeholder')}
            aria-controls={`${id}-results`}
            className="w-full rounded-lg border border-slate-300 bg-white py-2 pl-8 pr-3 text-sm focus:border-blue-500 focus:outline-none focus:ring-2 focus:ring-blue-500/30"
          />
        </div>
        <button
          type="button"
          onClick={onClose}
          aria-label={t('search.close')}
          className="rounded-lg p-2 text-slate-500 hover:bg-slate-200 focus-visible:outline focus-visible:outline-2 focus-visible:outline-blue-600"
        >
          <CloseIcon className="h-4 w-4" />
        </button>
      </div>
      <div id={`${id}-results`} aria-live="polite" className="mt-1">
        {status === 'searching' && <Spinner label={t('search.searching')} className="h-3.5 w-3.5 text-blue-600" />}
        {status === 'error' && <p role="alert" className="text-sm text-red-700">{t(errorKey(error ?? 'INTERNAL'))}</p>}
        {status === 'done' && hits.length === 0 && <p className="px-1 py-1 text-sm text-slate-500">{t('search.noResults')}</p>}
        {status === 'done' && hits.length > 0 && (
          <>
            <p className="sr-only">{t('search.resultCount', { count: hits.length })}</p>
            <ul className="max-h-56 space-y-1 overflow-y-auto py-1" aria-label={t('search.results')}>
              {hits.map((hit) => (
                <li key={hit.message.id || hit.message.clientMessageId}>
                  <button
                    type="button"
                    onClick={() => onJump(hit.message)}
                    className="w-full rounded-lg bg-white px-3 py-2 text-left text-sm shadow-sm ring-1 ring-slate-200 hover:bg-blue-50 focus-visible:outline focus-visible:outline-2 focus-visible:outline-blue-600"
                  >
                    <span className="flex justify-between gap-2 text-xs text-slate-500">
                      <span className="font-medium text-slate-700">{hit.message.sender.name}</span>
                      <time dateTime={hit.message.timestamp}>
                        {format.date(hit.message.timestamp)} · {format.time(hit.message.timestamp)}
                      </time>
                    </span>
                    <span className="mt-0.5 block text-slate-800" data-testid="search-snippet">
                      <Snippet snippet={hit.snippet} />
                    </span>
                  </button>
                </li>
              ))}
            </ul>
          </>
        )}
      </div>
    </div>
  );
}
