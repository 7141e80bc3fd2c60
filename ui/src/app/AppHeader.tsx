/** Top bar: brand, who is signed in, link state, unread total, settings, logout. */
import type { User } from '../api';
import { useI18n } from '../i18n';
import { GearIcon, LogoutIcon } from '../components/icons';
import { UnreadBadge } from '../components/Badge';
import { ConnectionDot } from '../features/connection/ConnectionDot';
import { LanguageSwitch } from '../features/settings/LanguageSwitch';

type AppHeaderProps = {
  user: User;
  unreadTotal: number;
  onSettings: () => void;
  onLogout: () => void;
};

export function AppHeader({ user, unreadTotal, onSettings, onLogout }: AppHeaderProps) {
  const { t } = useI18n();
  const role = user.type === 'patient' ? t('role.patient') : user.type === 'medecin' ? t('role.medecin') : t('role.admin');
  const button =
    'inline-flex items-center gap-2 rounded-lg px-2.5 py-2 text-sm font-medium text-blue-50 hover:bg-white/10 focus-visible:outline focus-visible:outline-2 focus-visible:outline-white';
  return (
    <header className="sticky top-0 z-30 bg-gradient-to-r from-blue-700 to-indigo-700 text-white shadow">
      <div className="mx-auto flex max-w-7xl items-center gap-3 px-3 py-2.5 sm:px-6">
        <span aria-hidden="true" className="text-2xl">
          🩺
        </span>
        <div className="min-w-0">
          <p className="flex items-center gap-2 truncate text-base font-bold leading-tight">
            {t('app.title')}
            <UnreadBadge count={unreadTotal} label={t('unread.total', { count: unreadTotal })} />
          </p>
          <p className="truncate text-xs text-blue-100">
            {user.name} · {role}
          </p>
        </div>
        <div className="ml-auto flex items-center gap-1 sm:gap-2">
          <ConnectionDot className="text-blue-50" />
          <span className="hidden sm:inline-flex">
            <LanguageSwitch tone="dark" />
          </span>
          <button type="button" onClick={onSettings} className={button} aria-label={t('settings.open')}>
            <GearIcon />
            <span className="hidden md:inline" aria-hidden="true">
              {t('settings.title')}
            </span>
          </button>
          <button type="button" onClick={onLogout} className={button} aria-label={t('logout')}>
            <LogoutIcon />
            <span className="hidden md:inline" aria-hidden="true">
              {t('logout')}
            </span>
          </button>
        </div>
      </div>
    </header>
  );
}
