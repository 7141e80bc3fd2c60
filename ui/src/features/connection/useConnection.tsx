/**
 * Live link state (`dmp://connection`) and peers' presence (`dmp://presence`), shared by
 * the header and the conversation. Signing in implies the server was reachable, so the
 * state starts as connected until the shell says otherwise; presence starts unknown.
 */
import { createContext, useContext, useMemo, useState, type ReactNode } from 'react';
import { events, useSubscription, type ConnectionState } from '../../api';

type ConnectionValue = {
  state: ConnectionState;
  /** `undefined` while no presence event was seen for that user. */
  presenceOf(userId: string): boolean | undefined;
};

const ConnectionContext = createContext<ConnectionValue | null>(null);

export function ConnectionProvider({ children, initialState = 'connected' }: { children: ReactNode; initialState?: ConnectionState }) {
  const [state, setState] = useState<ConnectionState>(initialState);
  const [presence, setPresence] = useState<Record<string, boolean>>({});

  useSubscription(events.onConnection, (event) => setState(event.state));
  useSubscription(events.onPresence, (event) => setPresence((p) => ({ ...p, [event.userId]: event.online })));

  const value = useMemo<ConnectionValue>(() => ({ state, presenceOf: (id) => presence[id] }), [state, presence]);
  return <ConnectionContext.Provider value={value}>{children}</ConnectionContext.Provider>;
}

export function useConnection(): ConnectionValue {
  const value = useContext(ConnectionContext);
  if (!value) throw new Error('useConnection outside ConnectionProvider');
  return value;
}
