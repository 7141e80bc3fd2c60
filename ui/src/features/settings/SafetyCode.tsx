/**
 * The safety code of a peer (`safety_code`): compared out of band, it proves that the
 * keys used for end-to-end encryption are the right ones.
 */
import { useEffect, useState } from 'react';
import { commands, errorCode, type ErrorCode, type Participant } from '../../api';
import { useI18n } from '../../i18n';
import { Spinner } from '../../components/Spinner';
import { errorKey } from '../../app/errorMessages';

export function useSafetyCode(userId: string | null) {
  const [state, setState] = useState<{ code?: string; error?: ErrorCode; loading: boolean }>({ loading: false });
  useEffect(() => {
    if (!userId) {
      setState({ loading: false });
      return undefined;
    }
    let cancelled = false;
    setState({ loading: true });
    commands
      .safetyCode(userId)
      .then((code) => !cancelled && setState({ code, loading: false }))
      .catch((caught: unknown) => !cancelled && setState({ error: errorCode(caught), loading: false }));
    return () => {
      cancelled = true;
    };
  }, [userId]);
  return state;
}

export function SafetyCode({ peer }: { peer: Participant }) {
  const { t } = useI18n();
  const { code, error, loading } = useSafetyCode(peer.id);
  return (
    <div className="rounded-xl bg-slate-50 p-4 ring-1 ring-slate-200">
      <p className="text-sm text-slate-700">{t('safety.explain', { name: peer.name })}</p>
      <div className="mt-3" aria-live="polite">
        {loading && <Spinner label={t('common.loading')} />}
        {error && (
          <p role="alert" className="text-sm text-red-700">
            {t(errorKey(error))}
          </p>
        )}
        {code && (
          <p className="select-all rounded-lg bg-white px-3 py-2 text-center font-mono text-lg tracking-widest text-slate-900 ring-1 ring-slate-200">
            <span className="sr-only">{t('safety.codeLabel', { name: peer.name })} </span>
            {code}
          </p>
        )}
      </div>
    </div>
  );
}
