/** The server's limits (`get_limits`), with the seed defaults until they are known. */
import { createContext, useContext, useEffect, useState, type ReactNode } from 'react';
import { commands, type Limits } from '../api';
import { DEFAULT_LIMITS } from '../features/attachments/validation';

const LimitsContext = createContext<Limits>(DEFAULT_LIMITS);

export function LimitsProvider({ children }: { children: ReactNode }) {
  const [limits, setLimits] = useState<Limits>(DEFAULT_LIMITS);
  useEffect(() => {
    let cancelled = false;
    commands
      .getLimits()
      .then((loaded) => !cancelled && setLimits({ ...DEFAULT_LIMITS, ...loaded }))
      .catch(() => undefined);
    return () => {
      cancelled = true;
    };
  }, []);
  return <LimitsContext.Provider value={limits}>{children}</LimitsContext.Provider>;
}

export function useLimits(): Limits {
  return useContext(LimitsContext);
}
