/**
 * Who is signed in. Starts with `resume_session` (the Rust side signs in again from the
 * keychain when "Rester connecté" was chosen; when the server is unreachable it opens
 * the cache read-only), and goes back to the login screen on `dmp://session-expired`
 * (expired, or the account was disabled) or when any command reports the session is
 * gone. Drafts live above this provider and survive that; an explicit logout clears them.
 */
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { commands, events, errorCode, useSubscription, type ErrorCode, type User } from '../../api';
import type { LoginArgs } from '../../api/commands';
import { useDrafts } from '../messages/drafts';

export type AuthState =
  | { status: 'checking' }
  | { status: 'signedOut'; reason?: SignedOutReason; lastUsername?: string; resumeError?: ErrorCode }
  | { status: 'signedIn'; user: User; readOnly: boolean };

export type SignedOutReason = 'expired' | 'disabled' | 'loggedOut';

type AuthValue = {
  state: AuthState;
  login(args: LoginArgs): Promise<User>;
  logout(): Promise<void>;
};

const AuthContext = createContext<AuthValue | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<AuthState>({ status: 'checking' });
  const drafts = useDrafts();

  useEffect(() => {
    let cancelled = false;
    commands
      .resumeSession()
      .then((signedIn) => {
        if (cancelled) return;
        setState(signedIn ? { status: 'signedIn', user: signedIn.user, readOnly: signedIn.readOnly } : { status: 'signedOut' });
      })
      .catch((error: unknown) => {
        if (cancelled) return;
        const code = errorCode(error);
        // Not being signed in is the normal first-run answer, not an error to show.
        setState({ status: 'signedOut', resumeError: code === 'NOT_SIGNED_IN' ? undefined : code });
      });
    return () => {
      cancelled = true;
    };
  }, []);

  const end = useCallback((reason: 'expired' | 'disabled') => {
    setState((previous) =>
      previous.status === 'signedIn' ? { status: 'signedOut', reason, lastUsername: previous.user.username } : previous,
    );
  }, []);

  useSubscription(events.onSessionExpired, (event) => end(event?.reason === 'disabled' ? 'disabled' : 'expired'));
  useEffect(() => commands.onAuthLost((code) => end(code === 'ACCOUNT_DISABLED' ? 'disabled' : 'expired')), [end]);

  const login = useCallback(async (args: LoginArgs) => {
    const user = await commands.login(args);
    setState({ status: 'signedIn', user, readOnly: false });
    return user;
  }, []);

  const logout = useCallback(async () => {
    try {
      await commands.logout();
    } catch {
      // Signing out locally must work even when the server cannot be reached.
    }
    drafts.clearAll();
    setState((previous) => ({
      status: 'signedOut',
      reason: 'loggedOut',
      lastUsername: previous.status === 'signedIn' ? previous.user.username : undefined,
    }));
  }, [drafts]);

  const value = useMemo(() => ({ state, login, logout }), [state, login, logout]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthValue {
  const value = useContext(AuthContext);
  if (!value) throw new Error('useAuth outside AuthProvider');
  return value;
}
