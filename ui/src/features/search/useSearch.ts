/** In-conversation search (`search_messages` scoped to the context), debounced. */
import { useEffect, useState } from 'react';
import { commands, errorCode, type ContextRef, type ErrorCode, type SearchHit } from '../../api';

export const SEARCH_DEBOUNCE_MS = 250;

export function useSearch(context: ContextRef, query: string) {
  const [hits, setHits] = useState<SearchHit[]>([]);
  const [status, setStatus] = useState<'idle' | 'searching' | 'done' | 'error'>('idle');
  const [error, setError] = useState<ErrorCode | null>(null);
  const { type: contextType, id: contextId } = context;

  useEffect(() => {
    const q = query.trim();
    if (q.length < 2) {
      setHits([]);
      setStatus('idle');
      return undefined;
    }
    let cancelled = false;
    setStatus('searching');
    const timer = setTimeout(() => {
      commands
        .searchMessages({ query: q, contextType, contextId })
        .then((result) => {
          if (cancelled) return;
          // Newest first, as the client core orders them.
          setHits(result);
          setStatus('done');
        })
        .catch((caught: unknown) => {
          if (cancelled) return;
          setError(errorCode(caught));
          setStatus('error');
        });
    }, SEARCH_DEBOUNCE_MS);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [query, contextType, contextId]);

  return { hits, status, error };
}
