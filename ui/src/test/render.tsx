/** Renders a piece of the app inside the providers it needs. */
import { render } from '@testing-library/react';
import type { ReactElement } from 'react';
import type { Language } from '../api';
import { I18nProvider } from '../i18n';
import { DraftsProvider } from '../features/messages/drafts';
import { SettingsProvider } from '../features/settings/useSettings';
import { ConnectionProvider } from '../features/connection/useConnection';
import { LimitsProvider } from '../app/limits';
import { TemplatesProvider } from '../features/templates/useTemplates';

export function renderWithProviders(ui: ReactElement, { language = 'fr' }: { language?: Language } = {}) {
  return render(
    <I18nProvider initialLanguage={language}>
      <DraftsProvider>
        <SettingsProvider>
          <ConnectionProvider>
            <LimitsProvider>
              <TemplatesProvider>{ui}</TemplatesProvider>
            </LimitsProvider>
          </ConnectionProvider>
        </SettingsProvider>
      </DraftsProvider>
    </I18nProvider>,
  );
}
