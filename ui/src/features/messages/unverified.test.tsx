/**
 * Unsigned or clear-text messages are marked prominently. The fixtures are the
 * exact JSON the Rust side emits (`rust-messages.json`, checked against
 * `dmp_protocol::Message` by protocol/tests/ui_fixtures.rs).
 */
import { screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { Language, UiMessage } from '../../api';
import { historyPage, ordonnance, patientUser } from '../../test/fixtures';
import { mockBackend } from '../../test/ipc';
import { renderWithProviders } from '../../test/render';
import fromRust from '../../test/rust-messages.json';
import { SecureMessaging } from './SecureMessaging';
import { isUnverified } from './MessageBubble';

const messages = fromRust as unknown as UiMessage[];
const [verified, clearText, badSignature] = messages as [UiMessage, UiMessage, UiMessage];

async function open(language: Language) {
  mockBackend({
    load_history: { value: historyPage(messages) },
    get_settings: { value: { language, notificationPreview: false } },
  });
  renderWithProviders(<SecureMessaging context={ordonnance} me={patientUser} onClose={() => {}} />, { language });
  await waitFor(() => expect(screen.getAllByTestId('unverified-warning')).toHaveLength(2));
}

const bubbleOf = (el: HTMLElement) => el.closest('.group') as HTMLElement;

describe('unverified messages', () => {
  it('are told apart from the flags the Rust client sets', () => {
    expect([verified, clearText, badSignature].map(isUnverified)).toEqual([false, true, true]);
    // An own message still in the outbox carries no flag yet: no warning.
    const pending: UiMessage = { ...verified, local: { state: 'sending' } };
    delete pending.encrypted;
    expect(isUnverified(pending)).toBe(false);
  });

  it('carry a visible warning and lose their urgent badge (French)', async () => {
    await open('fr');
    const [clearWarning, failedWarning] = screen.getAllByTestId('unverified-warning');
    expect(clearWarning).toHaveTextContent('Non vérifié : message en clair, ni chiffré ni signé de bout en bout.');
    expect(clearWarning).toHaveTextContent('Marqué urgent, mais l’urgence n’est pas prise en compte.');
    expect(failedWarning).toHaveTextContent('Non vérifié : ce message n’a pas passé la vérification de sécurité.');
    const clearBubble = bubbleOf(screen.getByText(clearText.content));
    expect(within(clearBubble).queryByText('Urgent')).not.toBeInTheDocument();
    const verifiedBubble = bubbleOf(screen.getByText(verified.content));
    expect(within(verifiedBubble).getByText('Urgent')).toBeInTheDocument();
    expect(within(verifiedBubble).queryByTestId('unverified-warning')).not.toBeInTheDocument();
  });

  it('carry the warning in English too', async () => {
    await open('en');
    const [clearWarning, failedWarning] = screen.getAllByTestId('unverified-warning');
    expect(clearWarning).toHaveTextContent('Unverified: clear-text message, neither end-to-end encrypted nor signed.');
    expect(failedWarning).toHaveTextContent('Unverified: this message failed the security check.');
  });
});
