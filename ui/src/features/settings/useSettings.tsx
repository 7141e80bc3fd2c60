/**
 * User preferences (language, notification preview) from `get_settings`, saved with
 * `set_settings`. The language applies at once even if saving fails; a language picked
 * before sign-in is pushed to the stored settings once they can be read.
 */
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { commands, errorCode, type ErrorCode, type Language, type Settings } from '../../api';
import { useI18n } from '../../i18n';

type SettingsValue = {
  settings: Settings | null;
  error: ErrorCode | null;
  saving: boolean;
  reload(): Promise<void>;
  update(patch: Partial<Settings>): Promise<void>;
  setLanguage(language: Language): void;
};

const SettingsContext = createContext<SettingsValue | null>(null);

export function SettingsProvider({ children }: { children: ReactNode }) {
  const { language, setLanguage: applyLanguage } = useI18n();
  const [settings, setSettings] = useState<Settings | null>(null);
  const [error, setError] = useState<ErrorCode | null>(null);
  const [saving, setSaving] = useState(false);
  const settingsRef = useRef<Settings | null>(null);
  settingsRef.current = settings;
  /** Chosen while the stored settings were unknown (login screen). */
  const pendingLanguage = useRef<Language | null>(null);

  const save = useCallback(async (next: Settings, previous: Settings | null) => {
    setSettings(next);
    setSaving(true);
    try {
      const saved = await commands.setSettings(next);
      setSettings(saved ?? next);
      setError(null);
    } catch (caught) {
      // Keep the language the user sees; roll back the rest.
      setSettings(previous ? { ...previous, language: next.language } : null);
      setError(errorCode(caught));
    } finally {
      setSaving(false);
    }
  }, []);

  const reload = useCallback(async () => {
    try {
      const loaded = await commands.getSettings();
      const wanted = pendingLanguage.current;
      pendingLanguage.current = null;
      if (wanted && wanted !== loaded.language) {
        await save({ ...loaded, language: wanted }, loaded);
      } else {
        setSettings(loaded);
        applyLanguage(loaded.language);
      }
    } catch {
      // Settings may be unreadable before sign-in; defaults apply.
    }
  }, [applyLanguage, save]);

  useEffect(() => {
    void reload();
  }, [reload]);

  const update = useCallback(
    async (patch: Partial<Settings>) => {
      const current = settingsRef.current;
      if (patch.language) applyLanguage(patch.language);
      if (!current) {
        if (patch.language) pendingLanguage.current = patch.language;
        return;
      }
      await save({ ...current, ...patch }, current);
    },
    [applyLanguage, save],
  );

  const setLanguage = useCallback((next: Language) => void update({ language: next }), [update]);

  const value = useMemo(
    () => ({ settings: settings ? { ...settings, language } : null, error, saving, reload, update, setLanguage }),
    [settings, language, error, saving, reload, update, setLanguage],
  );
  return <SettingsContext.Provider value={value}>{children}</SettingsContext.Provider>;
}

export function useSettings(): SettingsValue {
  const value = useContext(SettingsContext);
  if (!value) throw new Error('useSettings outside SettingsProvider');
  return value;
}
