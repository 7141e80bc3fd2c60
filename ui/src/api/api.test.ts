import { describe, expect, it, vi } from 'vitest';
import { commandError, emitEvent, mockBackend } from '../test/ipc';
import { doctor, localMessage, session } from '../test/fixtures';
import { CommandError, commands, events } from './index';

describe('IPC wrappers', () => {
  it('pass camelCase args and return the command result', async () => {
    const backend = mockBackend({ safety_code: { value: '4821 0937 5512 8840 2291 6603' } });
    await expect(commands.safetyCode('medecin_456')).resolves.toBe('4821 0937 5512 8840 2291 6603');
    await commands.setOpenConversation({ type: 'examen', id: 'exa_321' });
    expect(backend.calls.map((c) => [c.cmd, c.args])).toEqual([
      ['safety_code', { userId: 'medecin_456' }],
      ['set_open_conversation', { conversation: { contextType: 'examen', contextId: 'exa_321' } }],
    ]);
  });

  it('send the issue-11 commands with the contract’s argument names', async () => {
    const backend = mockBackend({
      retry_send: (args) => localMessage(String(args.clientMessageId), 'Bonjour'),
      discard_send: { value: null },
      last_login: { value: { server: 'https://dmp.example.fr', username: null, caFile: null } },
    });
    await commands.markRead(['msg_1', 'msg_2']);
    await expect(commands.retrySend('cm-1')).resolves.toMatchObject({ clientMessageId: 'cm-1', local: { state: 'sending' } });
    await commands.discardSend('cm-1');
    await expect(commands.lastLogin()).resolves.toEqual({ server: 'https://dmp.example.fr', username: null, caFile: null });
    await expect(commands.listContexts()).resolves.toEqual({ contexts: [], unreadTotal: 0 });
    expect(backend.calls.map((c) => [c.cmd, c.args])).toEqual([
      ['mark_read', { messageIds: ['msg_1', 'msg_2'] }],
      ['retry_send', { clientMessageId: 'cm-1' }],
      ['discard_send', { clientMessageId: 'cm-1' }],
      ['last_login', {}],
      ['list_contexts', {}],
    ]);
  });

  it('know the codes added by issue 11', () => {
    for (const code of ['ACCOUNT_DISABLED', 'OFFLINE_READ_ONLY', 'RETRY_UNKNOWN']) {
      expect(new CommandError(code, '').code).toBe(code);
    }
  });

  it('close, reopen and archive a conversation with the contract’s argument names, answering its session', async () => {
    const closed = { ...session('ordonnance', 'ord_789'), status: 'closed' as const, lastSeq: 4 };
    const backend = mockBackend({
      close_conversation: { value: closed },
      reopen_conversation: { value: { ...closed, status: 'active', lastSeq: 5 } },
      archive_conversation: { value: { ...closed, status: 'archived', lastSeq: 5 } },
    });
    await expect(commands.closeConversation({ contextType: 'ordonnance', contextId: 'ord_789', reason: 'answered' })).resolves.toEqual(closed);
    await commands.closeConversation({ contextType: 'ordonnance', contextId: 'ord_789', reason: null });
    await expect(commands.reopenConversation({ contextType: 'ordonnance', contextId: 'ord_789' })).resolves.toMatchObject({ status: 'active' });
    await expect(commands.archiveConversation({ contextType: 'examen', contextId: 'exa_321' })).resolves.toMatchObject({ status: 'archived' });
    expect(backend.calls.map((c) => [c.cmd, c.args])).toEqual([
      ['close_conversation', { contextType: 'ordonnance', contextId: 'ord_789', reason: 'answered' }],
      ['close_conversation', { contextType: 'ordonnance', contextId: 'ord_789', reason: null }],
      ['reopen_conversation', { contextType: 'ordonnance', contextId: 'ord_789' }],
      ['archive_conversation', { contextType: 'examen', contextId: 'exa_321' }],
    ]);
  });

  it('fetch the patient’s access log with the contract’s argument names, and pass on a refusal', async () => {
    const log = { entries: [{ at: '2025-03-14T09:00:00Z', who: doctor, action: 'read' as const }], truncated: false };
    const backend = mockBackend({ access_log: { value: log } });
    await expect(commands.accessLog('examen', 'exa_321')).resolves.toEqual(log);
    expect(backend.calls.map((c) => [c.cmd, c.args])).toEqual([['access_log', { contextType: 'examen', contextId: 'exa_321' }]]);
    backend.on('access_log', () => {
      throw commandError('CONTEXT_ACCESS_DENIED');
    });
    await expect(commands.accessLog('ordonnance', 'ord_789')).rejects.toMatchObject({ code: 'CONTEXT_ACCESS_DENIED' });
  });

  it('know SESSION_CLOSED (a send into a closed conversation)', async () => {
    mockBackend({
      send_message: () => {
        throw commandError('SESSION_CLOSED');
      },
    });
    const args = { contextType: 'ordonnance' as const, contextId: 'ord_789', content: 'x', isUrgent: false, requiresResponse: false, attachmentIds: [] };
    await expect(commands.sendMessage(args)).rejects.toMatchObject({ code: 'SESSION_CLOSED' });
  });

  it('reject with a CommandError; unknown codes and bare strings become INTERNAL', async () => {
    const backend = mockBackend({
      list_contexts: () => {
        throw commandError('CONTEXT_ACCESS_DENIED');
      },
    });
    const denied = await commands.listContexts().catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(CommandError);
    expect(denied).toMatchObject({ code: 'CONTEXT_ACCESS_DENIED' });

    backend.on('list_contexts', () => {
      throw commandError('BRAND_NEW_CODE');
    });
    await expect(commands.listContexts()).rejects.toMatchObject({ code: 'INTERNAL', rawCode: 'BRAND_NEW_CODE' });

    backend.on('list_contexts', () => {
      throw 'command list_contexts not found';
    });
    await expect(commands.listContexts()).rejects.toMatchObject({ code: 'INTERNAL' });
  });

  it('report a lost session to onAuthLost, except for the sign-in commands', async () => {
    mockBackend({
      list_notifications: () => {
        throw commandError('SESSION_EXPIRED');
      },
      login: () => {
        throw commandError('AUTH_REQUIRED');
      },
    });
    const lost = vi.fn();
    const stop = commands.onAuthLost(lost);
    await commands.login({ server: 'http://127.0.0.1:8443', username: 'x', password: 'y', remember: false }).catch(() => undefined);
    expect(lost).not.toHaveBeenCalled();
    await commands.listNotifications().catch(() => undefined);
    expect(lost).toHaveBeenCalledWith('SESSION_EXPIRED');
    stop();
  });

  it('deliver typed event payloads until unsubscribed', async () => {
    mockBackend();
    const seen = vi.fn();
    const unsubscribe = await events.onPresence(seen);
    await emitEvent('dmp://presence', { userId: doctor.id, online: true });
    expect(seen).toHaveBeenCalledWith({ userId: 'medecin_456', online: true });
    unsubscribe();
    await new Promise((r) => setTimeout(r, 0));
    await emitEvent('dmp://presence', { userId: doctor.id, online: false }, { unheard: true });
    expect(seen).toHaveBeenCalledTimes(1);
  });
});
