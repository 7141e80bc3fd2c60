/**
 * Live link state (`dmp://connection`), read-only mode and peers' presence
 * (`dmp://presence`), shared by the header and the conversation. Signing in implies the
 * server was reachable, so the state starts as connected — unless the session was opened
 * read-only from the cache (`resume_session` → `readOnly`), which lasts until the shell
 * says `readOnly: false`. Presence starts unknown.
 */
import { createContext, useContext, useMemo, useState, type ReactNode } from 'react';
import { events, useSubscription, type ConnectionState } from '../../api';

type ConnectionValue = {
  state: ConnectionState;
  /** Opened from the cache while the server is unreachable: nothing can be written. */
  readOnly: boolean;
  /** `undefined` while no presence event was seen for that user. */
  presenceOf(userId: string): boolean | undefined;
};

const ConnectionContext = createContext<ConnectionValue | null>(null);

type ConnectionProviderProps = { children: ReactNode; initialState?: ConnectionState; initialReadOnly?: boolean };

export function ConnectionProvider({ children, initialState, initialReadOnly = false }: ConnectionProviderProps) {
  const [state, setState] = useState<ConnectionState>(initialState ?? (initialReadOnly ? 'reconnecting' : 'connected'));
  const [readOnly, setReadOnly] = useState(initialReadOnly);
  const [presence, setPresence] = useState<Record<string, boolean>>({});

  useSubscription(events.onConnection, (event) => {
    setState(event.state);
    setReadOnly(event.readOnly);
  });
  useSubscription(events.onPresence, (event) => setPresence((p) => ({ ...p, [event.userId]: event.online })));

  const value = useMemo<ConnectionValue>(() => ({ state, readOnly, presenceOf: (id) => presence[id] }), [state, readOnly, presence]);
  return <ConnectionContext.Provider value={value}>{children}</ConnectionContext.Provider>;
}

export function useConnection(): ConnectionValue {
  const value = useContext(ConnectionContext);
  if (!value) throw new Error('useConnection outside ConnectionProvider');
  return value;
}
