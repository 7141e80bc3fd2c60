/** Top bar: brand, who is signed in, link state, unread total, notifications (doctor), settings, logout. */
import type { User } from '../api';
import { useI18n } from '../i18n';
import { BellIcon, GearIcon, LogoutIcon, StethoscopeIcon } from '../components/icons';
import { UnreadBadge } from '../components/Badge';
import { ConnectionDot } from '../features/connection/ConnectionDot';
import { LanguageSwitch } from '../features/settings/LanguageSwitch';

type AppHeaderProps = {
  user: User;
  unreadTotal: number;
  /** The bell that shows or hides the notifications panel (doctor). */
  notifications?: { count: number; open: boolean; onToggle: () => void };
  onSettings: () => void;
  onLogout: () => void;
};

export function AppHeader({ user, unreadTotal, notifications, onSettings, onLogout }: AppHeaderProps) {
  const { t } = useI18n();
  const role = user.type === 'patient' ? t('role.patient') : user.type === 'medecin' ? t('role.medecin') : t('role.admin');
  const button =
    'inline-flex items-center gap-2 rounded-lg px-2 py-2 text-sm font-medium text-blue-50 hover:bg-white/10 focus-visible:outline focus-visible:outline-2 focus-visible:outline-white';
  return (
    <header className="sticky top-0 z-30 bg-gradient-to-r from-blue-700 to-indigo-700 text-white shadow">
      <div className="mx-auto flex max-w-7xl items-center gap-2 px-2 py-2.5 sm:gap-3 sm:px-6">
        <StethoscopeIcon className="h-7 w-7 shrink-0" />
        <div className="min-w-0 flex-1">
          <p className="flex min-w-0 items-center gap-2 text-base font-bold leading-tight">
            <span className="truncate">{t('app.title')}</span>
            <UnreadBadge count={unreadTotal} label={t('unread.total', { count: unreadTotal })} />
          </p>
          <p className="truncate text-xs text-blue-100">
            {user.name} · {role}
          </p>
        </div>
        <div className="ml-auto flex shrink-0 items-center gap-0.5 sm:gap-2">
          <ConnectionDot className="text-blue-50" />
          {notifications && (
            <button
              type="button"
              data-testid="notifications-button"
              data-count={notifications.count}
              aria-pressed={notifications.open}
              onClick={notifications.onToggle}
              className={`${button} relative`}
              aria-label={t('notifications.toggle', { count: notifications.count })}
            >
              <BellIcon />
              {notifications.count > 0 && (
                <span
                  aria-hidden="true"
                  className="absolute -right-0.5 -top-0.5 min-w-[1.1rem] rounded-full bg-red-600 px-1 text-center text-[10px] font-bold leading-4 text-white ring-2 ring-blue-700"
                >
                  {notifications.count > 99 ? '99+' : notifications.count}
                </span>
              )}
            </button>
          )}
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
