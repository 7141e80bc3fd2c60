/**
 * Preferences dialog: language, notification previews, the doctor's absence, office hours
 * and reply templates, and peers' safety codes.
 */
import { useId, useState } from 'react';
import type { Participant, User } from '../../api';
import { useI18n } from '../../i18n';
import { Dialog } from '../../components/Dialog';
import { errorKey } from '../../app/errorMessages';
import { useSettings } from './useSettings';
import { SafetyCode } from './SafetyCode';
import { AbsenceSection } from './AbsenceSection';
import { OfficeHoursSection } from './OfficeHoursSection';
import { TemplatesSection } from './TemplatesSection';

type SettingsPanelProps = {
  /** Who is signed in: a doctor also sets their absence, office hours and reply templates here. */
  user: User;
  peers: Participant[];
  onClose: () => void;
  /** Open on this peer's safety code. */
  initialPeerId?: string;
};

export function SettingsPanel({ user, peers, onClose, initialPeerId }: SettingsPanelProps) {
  const { t, language } = useI18n();
  const { settings, update, error, saving } = useSettings();
  const [peerId, setPeerId] = useState<string>(initialPeerId ?? '');
  const peer = peers.find((p) => p.id === peerId);
  const ids = { preview: useId(), peer: useId(), lang: useId() };
  const preview = settings?.notificationPreview ?? true;

  return (
    <Dialog title={t('settings.title')} onClose={onClose} className="max-w-lg">
      <div className="space-y-6">
        <fieldset>
          <legend className="text-sm font-semibold text-slate-900">{t('settings.language')}</legend>
          <div className="mt-2 flex gap-2">
            {(['fr', 'en'] as const).map((code) => (
              <label
                key={code}
                className={`flex cursor-pointer items-center gap-2 rounded-lg border px-3 py-2 text-sm ${
                  language === code ? 'border-blue-500 bg-blue-50 text-blue-900' : 'border-slate-300 text-slate-700'
                }`}
              >
                <input
                  type="radio"
                  name={ids.lang}
                  value={code}
                  checked={language === code}
                  onChange={() => void update({ language: code })}
                  className="text-blue-600 focus:ring-blue-500"
                />
                <span lang={code}>{t(code === 'fr' ? 'settings.language.fr' : 'settings.language.en')}</span>
              </label>
            ))}
          </div>
        </fieldset>

        <div>
          <h3 className="text-sm font-semibold text-slate-900">{t('settings.notifications')}</h3>
          <div className="mt-2 flex items-start justify-between gap-4">
            <div>
              <p id={ids.preview} className="text-sm text-slate-800">
                {t('settings.preview')}
              </p>
              <p className="text-xs text-slate-500">{t('settings.previewHelp')}</p>
            </div>
            <button
              type="button"
              role="switch"
              aria-checked={preview}
              aria-labelledby={ids.preview}
              disabled={!settings || saving}
              onClick={() => void update({ notificationPreview: !preview })}
              className={`relative inline-flex h-6 w-11 shrink-0 items-center rounded-full transition-colors focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-blue-600 disabled:opacity-50 ${
                preview ? 'bg-blue-600' : 'bg-slate-300'
              }`}
            >
              <span
                aria-hidden="true"
                className={`inline-block h-5 w-5 rounded-full bg-white shadow transition-transform ${preview ? 'translate-x-5' : 'translate-x-0.5'}`}
              />
            </button>
          </div>
          {error && (
            <p role="alert" className="mt-2 text-sm text-red-700">
              {t('settings.saveFailed')} {t(errorKey(error))}
            </p>
          )}
        </div>

        {user.type === 'medecin' && <AbsenceSection />}

        {user.type === 'medecin' && <OfficeHoursSection />}

        {user.type === 'medecin' && <TemplatesSection />}

        <div>
          <h3 className="text-sm font-semibold text-slate-900">{t('safety.title')}</h3>
          {peers.length === 0 ? (
            <p className="mt-2 text-sm text-slate-500">{t('safety.noPeers')}</p>
          ) : (
            <>
              <label htmlFor={ids.peer} className="mt-2 block text-sm text-slate-700">
                {t('safety.choosePeer')}
              </label>
              <select
                id={ids.peer}
                value={peerId}
                onChange={(e) => setPeerId(e.target.value)}
                className="mt-1 block w-full rounded-lg border border-slate-300 bg-white px-3 py-2 text-sm focus:border-blue-500 focus:outline-none focus:ring-2 focus:ring-blue-500/30"
              >
                <option value="">{t('safety.choosePlaceholder')}</option>
                {peers.map((p) => (
                  <option key={p.id} value={p.id}>
                    {p.name}
                  </option>
                ))}
              </select>
              {peer && (
                <div className="mt-3">
                  <SafetyCode peer={peer} />
                </div>
              )}
            </>
          )}
        </div>

        <div className="flex justify-end">
          <button
            type="button"
            onClick={onClose}
            className="rounded-lg bg-slate-900 px-4 py-2 text-sm font-semibold text-white hover:bg-slate-700 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-blue-600"
          >
            {t('common.close')}
          </button>
        </div>
      </div>
    </Dialog>
  );
}
