/**
 * The limits the server announces (`get_limits`, fetched by Rust from `GET /api/limits`
 * at sign-in), with the seed defaults until they are known. Asked again when a
 * read-only session (opened from the cache) becomes a real one.
 */
import { createContext, useContext, useEffect, useState, type ReactNode } from 'react';
import { commands, type Limits } from '../api';
import { DEFAULT_LIMITS } from '../features/attachments/validation';
import { useConnection } from '../features/connection/useConnection';

const LimitsContext = createContext<Limits>(DEFAULT_LIMITS);

export function LimitsProvider({ children }: { children: ReactNode }) {
  const [limits, setLimits] = useState<Limits>(DEFAULT_LIMITS);
  const { readOnly } = useConnection();
  useEffect(() => {
    let cancelled = false;
    commands
      .getLimits()
      .then((loaded) => !cancelled && setLimits({ ...DEFAULT_LIMITS, ...loaded }))
      .catch(() => undefined);
    return () => {
      cancelled = true;
    };
  }, [readOnly]);
  return <LimitsContext.Provider value={limits}>{children}</LimitsContext.Provider>;
}

export function useLimits(): Limits {
  return useContext(LimitsContext);
}
