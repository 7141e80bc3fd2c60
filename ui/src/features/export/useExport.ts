/** Exports a conversation (`export_conversation`) and reports where it was written. */
import { useCallback, useState } from 'react';
import { commands, errorCode, type ContextRef, type ErrorCode, type ExportFormat } from '../../api';

export function useExport(context: ContextRef) {
  const [busy, setBusy] = useState<ExportFormat | null>(null);
  const [path, setPath] = useState<string | null>(null);
  const [error, setError] = useState<ErrorCode | null>(null);
  const { type: contextType, id: contextId } = context;

  const run = useCallback(
    async (format: ExportFormat): Promise<{ ok: true; path: string } | { ok: false; code: ErrorCode }> => {
      setBusy(format);
      setError(null);
      setPath(null);
      try {
        const written = await commands.exportConversation({ contextType, contextId, format });
        setPath(written);
        return { ok: true, path: written };
      } catch (caught) {
        const code = errorCode(caught);
        setError(code);
        return { ok: false, code };
      } finally {
        setBusy(null);
      }
    },
    [contextType, contextId],
  );

  return { run, busy, path, error };
}
