/** The app: providers, then the login screen or the workspace. */
import { useEffect } from 'react';
import { I18nProvider, useI18n } from '../i18n';
import { Spinner } from '../components/Spinner';
import { AuthProvider, useAuth } from '../features/auth/useAuth';
import { LoginScreen } from '../features/auth/LoginScreen';
import { DraftsProvider } from '../features/messages/drafts';
import { SettingsProvider } from '../features/settings/useSettings';
import { Workspace } from './Workspace';
import { commands } from '../api';

export function App() {
  return (
    <I18nProvider>
      <DraftsProvider>
        <SettingsProvider>
          <AuthProvider>
            <AuthGate />
          </AuthProvider>
        </SettingsProvider>
      </DraftsProvider>
    </I18nProvider>
  );
}

function AuthGate() {
  const { t } = useI18n();
  const { state } = useAuth();

  useEffect(() => {
    if (state.status !== 'signedIn') document.title = t('app.title');
  }, [state.status, t]);

  // The first usable screen is up: the shell logs how long the start took.
  useEffect(() => {
    if (state.status !== 'checking') commands.windowReady();
  }, [state.status]);

  if (state.status === 'checking') {
    return (
      <div className="flex min-h-screen items-center justify-center text-blue-600">
        <Spinner label={t('common.loading')} className="h-8 w-8" />
      </div>
    );
  }
  if (state.status === 'signedOut') return <LoginScreen key={`${state.reason ?? 'start'}:${state.lastUsername ?? ''}`} />;
  return <Workspace key={state.user.id} user={state.user} readOnly={state.readOnly} />;
}
