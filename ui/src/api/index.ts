/** The IPC boundary: typed commands, typed events, the error type and the data shapes. */
export * as commands from './commands';
export * as events from './events';
export * from './errors';
export type * from './types';
export type { Subscribe, Unsubscribe, EventPayloads, EventName } from './events';
export { useSubscription } from './useSubscription';
