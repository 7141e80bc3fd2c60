/** FR | EN segmented switch, usable from the login screen and the header. */
import type { Language } from '../../api';
import { useI18n } from '../../i18n';
import { useSettings } from './useSettings';

const LANGUAGES: { code: Language; short: string }[] = [
  { code: 'fr', short: 'FR' },
  { code: 'en', short: 'EN' },
];

export function LanguageSwitch({ tone = 'light' }: { tone?: 'light' | 'dark' }) {
  const { t, language } = useI18n();
  const { setLanguage } = useSettings();
  return (
    <div role="group" aria-label={t('settings.language')} className={`inline-flex rounded-lg p-0.5 ${tone === 'dark' ? 'bg-white/10' : 'bg-white shadow ring-1 ring-slate-200'}`}>
      {LANGUAGES.map(({ code, short }) => {
        const active = code === language;
        return (
          <button
            key={code}
            type="button"
            lang={code}
            aria-pressed={active}
            aria-label={t(code === 'fr' ? 'settings.language.fr' : 'settings.language.en')}
            onClick={() => setLanguage(code)}
            className={`rounded-md px-2.5 py-1 text-xs font-semibold focus-visible:outline focus-visible:outline-2 focus-visible:outline-blue-500 ${
              active
                ? 'bg-blue-600 text-white'
                : tone === 'dark'
                  ? 'text-blue-100 hover:bg-white/10'
                  : 'text-slate-600 hover:bg-slate-100'
            }`}
          >
            {short}
          </button>
        );
      })}
    </div>
  );
}
