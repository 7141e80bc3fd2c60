/** The login form: server URL, username, password, "Rester connecté", and in the
 * advanced options the CA file to trust. The server, username and CA file of the last
 * sign-in come from `last_login` (kept by the Rust side across logout and restarts). */
import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { commands, errorCode, type ErrorCode } from '../../api';
import { useI18n } from '../../i18n';
import { LanguageSwitch } from '../settings/LanguageSwitch';
import { Spinner } from '../../components/Spinner';
import { LockIcon, StethoscopeIcon, WarningIcon } from '../../components/icons';
import { useAuth } from './useAuth';
import { loginErrorKey } from './loginErrors';

export const DEFAULT_SERVER = 'https://127.0.0.1:8443';

type FieldErrors = Partial<Record<'server' | 'username' | 'password', true>>;

const HTTP_URL = /^https?:\/\/[^\s/]+/i;

export function LoginScreen() {
  const { t } = useI18n();
  const { state, login } = useAuth();
  const signedOut = state.status === 'signedOut' ? state : undefined;
  const [server, setServer] = useState(DEFAULT_SERVER);
  const [caFile, setCaFile] = useState('');
  const [username, setUsername] = useState(signedOut?.lastUsername ?? '');
  const edited = useRef({ server: false, caFile: false, username: false });
  const [password, setPassword] = useState('');
  const [remember, setRemember] = useState(false);
  const [submitting, setSubmitting] = useState(false);
  const [error, setError] = useState<ErrorCode | undefined>(signedOut?.resumeError);
  const [fieldErrors, setFieldErrors] = useState<FieldErrors>({});
  const passwordRef = useRef<HTMLInputElement>(null);
  const ids = { server: useId(), caFile: useId(), username: useId(), password: useId(), remember: useId(), error: useId() };

  // Pre-fill from the last sign-in, without overwriting what the user already typed.
  useEffect(() => {
    let cancelled = false;
    commands
      .lastLogin()
      .then((last) => {
        if (cancelled || !last) return;
        if (!edited.current.server && last.server) setServer(last.server);
        if (!edited.current.caFile && last.caFile) setCaFile(last.caFile);
        if (!edited.current.username && last.username) setUsername((current) => current || (last.username ?? ''));
      })
      .catch(() => undefined);
    return () => {
      cancelled = true;
    };
  }, []);

  const validate = (): FieldErrors => {
    const errors: FieldErrors = {};
    if (!HTTP_URL.test(server.trim())) errors.server = true;
    if (username.trim() === '') errors.username = true;
    if (password === '') errors.password = true;
    return errors;
  };

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    const errors = validate();
    setFieldErrors(errors);
    if (Object.keys(errors).length > 0) return;
    setSubmitting(true);
    setError(undefined);
    try {
      const address = server.trim().replace(/\/+$/, '');
      const ca = caFile.trim();
      await login({ server: address, username: username.trim(), password, remember, ...(ca ? { caFile: ca } : {}) });
    } catch (caught) {
      setError(errorCode(caught));
      setPassword('');
      passwordRef.current?.focus();
      setSubmitting(false);
    }
  };

  const inputClass = (invalid: boolean | undefined) =>
    `mt-1 block w-full rounded-lg border bg-white px-3 py-2.5 text-slate-900 shadow-sm placeholder:text-slate-400 focus:outline-none focus:ring-2 ${
      invalid ? 'border-red-500 focus:ring-red-500' : 'border-slate-300 focus:border-blue-500 focus:ring-blue-500'
    }`;

  return (
    <main className="flex min-h-screen flex-col items-center justify-center bg-gradient-to-br from-blue-50 via-slate-50 to-indigo-100 px-4 py-10">
      <div className="absolute right-4 top-4">
        <LanguageSwitch />
      </div>
      <div className="w-full max-w-md">
        <div className="mb-6 text-center">
          <div className="mx-auto mb-3 flex h-14 w-14 items-center justify-center rounded-2xl bg-blue-600 text-white shadow-lg" aria-hidden="true">
            <StethoscopeIcon className="h-8 w-8" />
          </div>
          <h1 className="text-2xl font-bold tracking-tight text-slate-900">{t('app.title')}</h1>
          <p className="mt-1 text-sm text-slate-600">{t('login.subtitle')}</p>
        </div>

        <form
          onSubmit={onSubmit}
          noValidate
          aria-describedby={error ? ids.error : undefined}
          className="space-y-4 rounded-2xl bg-white p-6 shadow-xl ring-1 ring-slate-200"
        >
          <h2 className="text-lg font-semibold text-slate-900">{t('login.heading')}</h2>

          {signedOut?.reason === 'expired' && !error && (
            <p role="status" className="rounded-lg bg-amber-50 px-3 py-2 text-sm text-amber-900 ring-1 ring-amber-200">
              {t('login.expired')}
            </p>
          )}
          {signedOut?.reason === 'disabled' && !error && (
            <p role="status" data-testid="account-disabled" className="rounded-lg bg-red-50 px-3 py-2 text-sm text-red-900 ring-1 ring-red-200">
              {t('login.error.disabled')}
            </p>
          )}
          {error && (
            <p id={ids.error} role="alert" className="flex items-start gap-2 rounded-lg bg-red-50 px-3 py-2 text-sm font-medium text-red-800 ring-1 ring-red-200">
              <WarningIcon className="mt-0.5 h-4 w-4 shrink-0" />
              <span>{t(loginErrorKey(error))}</span>
            </p>
          )}

          <div>
            <label htmlFor={ids.server} className="block text-sm font-medium text-slate-700">
              {t('login.server')}
            </label>
            <input
              id={ids.server}
              type="url"
              inputMode="url"
              autoComplete="url"
              value={server}
              onChange={(e) => {
                edited.current.server = true;
                setServer(e.target.value);
              }}
              aria-invalid={fieldErrors.server ? true : undefined}
              aria-describedby={fieldErrors.server ? `${ids.server}-err` : undefined}
              className={inputClass(fieldErrors.server)}
            />
            {fieldErrors.server && (
              <p id={`${ids.server}-err`} className="mt-1 text-xs text-red-700">
                {t('login.serverInvalid')}
              </p>
            )}
          </div>

          <div>
            <label htmlFor={ids.username} className="block text-sm font-medium text-slate-700">
              {t('login.username')}
            </label>
            <input
              id={ids.username}
              autoComplete="username"
              value={username}
              onChange={(e) => {
                edited.current.username = true;
                setUsername(e.target.value);
              }}
              aria-invalid={fieldErrors.username ? true : undefined}
              aria-describedby={fieldErrors.username ? `${ids.username}-err` : undefined}
              className={inputClass(fieldErrors.username)}
            />
            {fieldErrors.username && (
              <p id={`${ids.username}-err`} className="mt-1 text-xs text-red-700">
                {t('login.required')}
              </p>
            )}
          </div>

          <div>
            <label htmlFor={ids.password} className="block text-sm font-medium text-slate-700">
              {t('login.password')}
            </label>
            <input
              id={ids.password}
              ref={passwordRef}
              type="password"
              autoComplete="current-password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              aria-invalid={fieldErrors.password ? true : undefined}
              aria-describedby={fieldErrors.password ? `${ids.password}-err` : undefined}
              className={inputClass(fieldErrors.password)}
            />
            {fieldErrors.password && (
              <p id={`${ids.password}-err`} className="mt-1 text-xs text-red-700">
                {t('login.required')}
              </p>
            )}
          </div>

          <details className="rounded-lg border border-slate-200 px-3 py-2 text-sm" open={caFile !== '' ? true : undefined}>
            <summary className="cursor-pointer font-medium text-slate-700">{t('login.advanced')}</summary>
            <label htmlFor={ids.caFile} className="mt-2 block text-sm font-medium text-slate-700">
              {t('login.caFile')}
            </label>
            <input
              id={ids.caFile}
              value={caFile}
              onChange={(e) => {
                edited.current.caFile = true;
                setCaFile(e.target.value);
              }}
              placeholder="/chemin/vers/ca.pem"
              aria-describedby={`${ids.caFile}-help`}
              className={inputClass(false)}
            />
            <p id={`${ids.caFile}-help`} className="mt-1 text-xs text-slate-500">
              {t('login.caFileHelp')}
            </p>
          </details>

          <div className="flex items-center gap-2">
            <input
              id={ids.remember}
              type="checkbox"
              checked={remember}
              onChange={(e) => setRemember(e.target.checked)}
              className="h-4 w-4 rounded border-slate-300 text-blue-600 focus:ring-blue-500"
            />
            <label htmlFor={ids.remember} className="text-sm text-slate-700">
              {t('login.remember')}
            </label>
          </div>

          <button
            type="submit"
            disabled={submitting}
            className="flex w-full items-center justify-center gap-2 rounded-lg bg-blue-600 px-4 py-2.5 font-semibold text-white shadow hover:bg-blue-700 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-blue-600 disabled:cursor-wait disabled:opacity-70"
          >
            {submitting && <Spinner />}
            {submitting ? t('login.submitting') : t('login.submit')}
          </button>
        </form>

        <p className="mt-4 flex items-center justify-center gap-1.5 text-center text-xs text-slate-500">
          <LockIcon className="h-3.5 w-3.5" />
          {t('login.e2eNote')}
        </p>
      </div>
    </main>
  );
}
