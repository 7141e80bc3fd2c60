/**
 * Translations: French is the default and the reference dictionary, English mirrors it
 * key for key (the compiler checks it). `t` interpolates `{name}` placeholders and picks
 * `_one` / `_other` forms when a `count` is given.
 */
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import type { Language } from '../api';
import { fr, type MessageKey } from './fr';
import { en } from './en';
import { createFormatters, type Formatters } from './format';

export type { MessageKey } from './fr';

const dictionaries: Record<Language, Record<MessageKey, string>> = { fr, en };

export type TParams = Record<string, string | number>;
export type Translate = (key: MessageKey, params?: TParams) => string;

export function translate(language: Language, key: MessageKey, params?: TParams): string {
  const dict = dictionaries[language];
  let template = dict[key];
  if (params && typeof params.count === 'number') {
    const form = new Intl.PluralRules(language).select(params.count) === 'one' ? 'one' : 'other';
    const plural = (dict as Record<string, string | undefined>)[`${key}_${form}`];
    if (plural !== undefined) template = plural;
  }
  if (!params) return template;
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const value = params[name];
    if (value === undefined) return whole;
    return typeof value === 'number' ? new Intl.NumberFormat(language).format(value) : value;
  });
}

type I18nValue = {
  language: Language;
  setLanguage: (language: Language) => void;
  t: Translate;
  format: Formatters;
};

const I18nContext = createContext<I18nValue | null>(null);

export function I18nProvider({ children, initialLanguage = 'fr' }: { children: ReactNode; initialLanguage?: Language }) {
  const [language, setLanguageState] = useState<Language>(initialLanguage);

  useEffect(() => {
    document.documentElement.lang = language;
  }, [language]);

  const setLanguage = useCallback((next: Language) => setLanguageState(next), []);
  const t = useCallback<Translate>((key, params) => translate(language, key, params), [language]);
  const format = useMemo(() => createFormatters(language), [language]);
  const value = useMemo(() => ({ language, setLanguage, t, format }), [language, setLanguage, t, format]);

  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

export function useI18n(): I18nValue {
  const value = useContext(I18nContext);
  if (!value) throw new Error('useI18n outside I18nProvider');
  return value;
}
