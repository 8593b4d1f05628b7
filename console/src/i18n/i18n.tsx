import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { format, LANGUAGES, MESSAGES, type Language, type MessageKey } from './messages.ts';

const STORAGE_KEY = 'ims.console.language';

export type Translate = (key: MessageKey, values?: Record<string, string | number>) => string;

interface I18n {
  lang: Language;
  setLang: (lang: Language) => void;
  t: Translate;
  /** Locale-aware byte and date formatting for the current language. */
  locale: string;
}

const I18nContext = createContext<I18n | null>(null);

function initialLanguage(): Language {
  const saved = localStorage.getItem(STORAGE_KEY);
  if (saved && saved in LANGUAGES) return saved as Language;
  return navigator.language.toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
}

export function I18nProvider({ children }: { children: ReactNode }) {
  const [lang, setLangState] = useState<Language>(initialLanguage);
  useEffect(() => {
    document.documentElement.lang = lang;
  }, [lang]);
  const setLang = useCallback((next: Language) => {
    localStorage.setItem(STORAGE_KEY, next);
    setLangState(next);
  }, []);
  const value = useMemo<I18n>(
    () => ({
      lang,
      setLang,
      locale: lang,
      t: (key, values) => format(MESSAGES[lang][key], values),
    }),
    [lang, setLang],
  );
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

export function useI18n(): I18n {
  const ctx = useContext(I18nContext);
  if (!ctx) throw new Error('useI18n outside I18nProvider');
  return ctx;
}
