import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { Absence, AwaitingAnswer, ContextSummary, OfficeHours } from '../../api';
import { I18nProvider, translate } from '../../i18n';
import { doctor, examen, ordonnance, otherPatient, patient, patientUser, session } from '../../test/fixtures';
import { DoctorInbox } from './DoctorInbox';
import { CATEGORY_LABEL, QUESTION_CATEGORIES } from './questions';
import { MessagingButton } from './MessagingButton';
import { PatientHome } from './PatientHome';
import { doctorAbsenceFor } from './DoctorAbsence';
import { doctorOfficeHoursFor } from './DoctorOfficeHours';
import { foldForSearch } from './DoctorInbox';
import { STATUS_FILTERS, STATUS_FILTER_LABEL } from './sessionStatus';

const inFrench = (ui: React.ReactElement) => render(<I18nProvider>{ui}</I18nProvider>);

describe('MessagingButton', () => {
  it('reads "Questions sur l\'ordonnance" with the comments and pill icons (SVG), and the blue style for a prescription', () => {
    inFrench(<MessagingButton contextType="ordonnance" onClick={vi.fn()} />);
    const button = screen.getByRole('button', { name: /Questions sur l'ordonnance/ });
    expect(button).toHaveClass('bg-blue-600', 'hover:bg-blue-700', 'text-white');
    expect(button.querySelectorAll('svg')).toHaveLength(2);
    // No emoji in the app's chrome: a workstation without an emoji font shows them as boxes.
    expect(button.textContent).not.toMatch(/\p{Extended_Pictographic}/u);
  });

  it('reads "Discussion sur les résultats" with the microscope icon for an exam', () => {
    inFrench(<MessagingButton contextType="examen" onClick={vi.fn()} />);
    const button = screen.getByRole('button', { name: /Discussion sur les résultats/ });
    expect(button.querySelectorAll('svg')).toHaveLength(2);
    expect(screen.getByRole('tooltip').textContent).not.toMatch(/\p{Extended_Pictographic}/u);
  });

  it('is described by a tooltip saying the exchange is private and end-to-end encrypted', () => {
    inFrench(<MessagingButton contextType="ordonnance" onClick={vi.fn()} />);
    const button = screen.getByRole('button');
    const tooltip = screen.getByRole('tooltip');
    expect(button).toHaveAttribute('aria-describedby', tooltip.id);
    expect(button).toHaveAccessibleDescription(/chiffré de bout en bout : seuls vous et le médecin prescripteur/);
  });

  it('shows a red unread badge with a spoken count, none at zero, 99+ beyond', () => {
    const { rerender } = inFrench(<MessagingButton contextType="ordonnance" unreadCount={3} onClick={vi.fn()} />);
    const badge = screen.getByRole('img', { name: '3 messages non lus' });
    expect(badge).toHaveTextContent('3');
    expect(badge).toHaveClass('bg-red-600');
    rerender(
      <I18nProvider>
        <MessagingButton contextType="ordonnance" unreadCount={1} onClick={vi.fn()} />
      </I18nProvider>,
    );
    expect(screen.getByRole('img', { name: '1 message non lu' })).toBeInTheDocument();
    rerender(
      <I18nProvider>
        <MessagingButton contextType="ordonnance" unreadCount={0} onClick={vi.fn()} />
      </I18nProvider>,
    );
    expect(screen.queryByRole('img', { name: /non lu/ })).not.toBeInTheDocument();
    rerender(
      <I18nProvider>
        <MessagingButton contextType="examen" unreadCount={120} onClick={vi.fn()} />
      </I18nProvider>,
    );
    expect(screen.getByRole('img', { name: '120 messages non lus' })).toHaveTextContent('99+');
  });
});

describe('PatientHome — Mon DMP', () => {
  function renderHome(onOpen = vi.fn()) {
    inFrench(
      <PatientHome
        user={patientUser}
        contexts={[ordonnance, examen]}
        status="ready"
        error={null}
        onOpen={onOpen}
        onRetry={vi.fn()}
        hasDraft={(c) => c.id === 'exa_321'}
        notifications={<p>liste des notifications</p>}
        unseenNotifications={2}
      />,
    );
    return onOpen;
  }

  it('lists prescriptions and exams in the order Rust gives, with French dates, doctor and summary', () => {
    renderHome();
    expect(screen.getByRole('heading', { level: 1, name: 'Mon DMP' })).toBeInTheDocument();
    expect(screen.getByRole('tab', { name: 'Historique médical' })).toHaveAttribute('aria-selected', 'true');
    const cards = screen.getAllByRole('article');
    expect(cards.map((c) => within(c).getByRole('heading').textContent)).toEqual([
      'Amoxicilline 1 g — angine bactérienne',
      'Bilan sanguin complet',
    ]);
    expect(within(cards[0]!).getByText('12 mars 2025')).toBeInTheDocument();
    expect(within(cards[0]!).getByText('Dr Sophie Martin')).toBeInTheDocument();
    expect(within(cards[0]!).getByText(/Paracétamol 1 g si fièvre/)).toBeInTheDocument();
    expect(within(cards[1]!).getByText('27 février 2025')).toBeInTheDocument();
    expect(within(cards[1]!).getByText('Dr Karim Benali')).toBeInTheDocument();
    expect(within(cards[1]!).getByText('Brouillon')).toBeInTheDocument();
    expect(within(cards[0]!).getByRole('img', { name: '2 messages non lus' })).toBeInTheDocument();
  });

  it('filters by type and opens the conversation of a record', async () => {
    const user = userEvent.setup();
    const onOpen = renderHome();
    await user.click(screen.getByRole('button', { name: 'Examens' }));
    expect(screen.getAllByRole('article')).toHaveLength(1);
    await user.click(screen.getByRole('button', { name: /Discussion sur les résultats/ }));
    expect(onOpen).toHaveBeenCalledWith(expect.objectContaining({ type: 'examen', id: 'exa_321' }));
  });

  it('switches to the notifications tab with the arrow keys', async () => {
    const user = userEvent.setup();
    renderHome();
    screen.getByRole('tab', { name: 'Historique médical' }).focus();
    await user.keyboard('{ArrowRight}');
    expect(screen.getByRole('tab', { name: /Notifications/ })).toHaveAttribute('aria-selected', 'true');
    expect(screen.getByText('liste des notifications')).toBeInTheDocument();
  });
});

describe('DoctorInbox', () => {
  const mk = (id: string, patientName: string, extra: Partial<ContextSummary>): ContextSummary => ({
    ...ordonnance,
    id,
    title: `Ordonnance ${id}`,
    patient: { ...otherPatient, id: `patient_${id}`, name: patientName },
    doctor,
    session: session('ordonnance', id, patient, doctor),
    ...extra,
  });
  // In the order Rust sorts them: urgent unread, then unread, then latest message, then none.
  const contexts = [
    mk('ord_2', 'Emma Bernard', { unreadCount: 2, lastMessageAt: '2025-03-13T10:00:00Z', hasUrgentUnread: true }),
    mk('ord_3', 'Hugo Moreau', { unreadCount: 1, lastMessageAt: '2025-03-14T08:00:00Z' }),
    mk('ord_1', 'Lucas Petit', { unreadCount: 0, lastMessageAt: '2025-03-14T09:00:00Z' }),
    mk('ord_4', 'Léa Garnier', { unreadCount: 0, session: null, lastMessageAt: null }),
  ];
  const renderInbox = (items = contexts, onOpen = vi.fn()) => {
    inFrench(<DoctorInbox contexts={items} status="ready" error={null} openContext={null} onOpen={onOpen} onRetry={vi.fn()} hasDraft={() => false} />);
    return onOpen;
  };

  it('keeps the order Rust gives (no re-sorting in the UI) and exposes the e2e hooks', () => {
    renderInbox([contexts[2]!, contexts[0]!, contexts[3]!, contexts[1]!]);
    const rows = screen.getAllByTestId('inbox-row');
    expect(rows.map((r) => r.dataset.contextId)).toEqual(['ord_1', 'ord_2', 'ord_4', 'ord_3']);
    expect(rows[1]).toHaveAttribute('data-urgent', 'true');
    expect(rows[1]).toHaveAttribute('data-unread', '2');
    expect(rows[1]).toHaveAttribute('data-context-type', 'ordonnance');
    expect(rows[0]).toHaveAttribute('data-urgent', 'false');
    expect(rows[0]).toHaveAttribute('data-unread', '0');
  });

  it('filters on names and titles ignoring case and accents', async () => {
    const user = userEvent.setup();
    renderInbox();
    const filter = screen.getByRole('searchbox');
    await user.type(filter, 'LEA');
    expect(screen.getAllByTestId('inbox-row').map((r) => r.dataset.contextId)).toEqual(['ord_4']);
    await user.clear(filter);
    await user.type(filter, 'éMMa');
    expect(screen.getAllByTestId('inbox-row').map((r) => r.dataset.contextId)).toEqual(['ord_2']);
    expect(foldForSearch('Hélène Œuvray-Dürr')).toBe('helene œuvray-durr');
  });

  it('keeps names and titles truncating and the time and badges on the row (360 px layout rules)', () => {
    const long = mk('ord_9', 'Marie-Françoise de La Tour-d’Auvergne-Lauraguais', {
      title: 'Amoxicilline 1 g, paracétamol 1 g, ibuprofène 400 mg — angine bactérienne compliquée',
      unreadCount: 128,
      hasUrgentUnread: true,
      lastMessageAt: '2025-03-14T08:00:00Z',
    });
    renderInbox([long]);
    const row = screen.getByTestId('inbox-row');
    const name = within(row).getByText(long.patient.name);
    expect(name).toHaveClass('truncate', 'min-w-0');
    expect(within(row).getByText(long.title)).toHaveClass('truncate');
    // The right column never shrinks: time and badge stay visible.
    const badge = within(row).getByRole('img', { name: '128 messages non lus' });
    expect(badge.closest('.shrink-0')).not.toBeNull();
    expect(row.querySelector('time')).toHaveClass('whitespace-nowrap');
    expect(within(row).getByText('Urgent').closest('.shrink-0')).not.toBeNull();
  });

  it('shows patient, record, unread count and urgency per row, and filters unread ones', async () => {
    const user = userEvent.setup();
    const onOpen = renderInbox();
    const rows = screen.getAllByTestId('inbox-row');
    expect(within(rows[0]!).getByText('Emma Bernard')).toBeInTheDocument();
    expect(within(rows[0]!).getByText('Urgent')).toBeInTheDocument();
    expect(within(rows[0]!).getByRole('img', { name: '2 messages non lus' })).toBeInTheDocument();
    expect(within(rows[0]!).getByText('Ordonnance ord_2')).toBeInTheDocument();
    expect(within(rows[3]!).getByText('Aucun message')).toBeInTheDocument();
    expect(screen.getByText('3 messages non lus')).toBeInTheDocument();

    await user.click(screen.getByRole('button', { name: 'Non lus' }));
    const unreadRows = screen.getAllByTestId('inbox-row');
    expect(unreadRows).toHaveLength(2);
    expect(unreadRows[0]).toHaveTextContent('Emma Bernard');
    expect(unreadRows[1]).toHaveTextContent('Hugo Moreau');
    await user.click(within(screen.getAllByTestId('inbox-row')[1]!).getByRole('button'));
    expect(onOpen).toHaveBeenCalledWith(expect.objectContaining({ id: 'ord_3' }));
  });

  describe('answers that wait', () => {
    const waiting = (extra: Partial<AwaitingAnswer>): AwaitingAnswer => ({
      since: '2025-03-14T09:00:00Z',
      dueAt: '2025-03-17T09:00:00Z',
      overdue: false,
      urgent: false,
      category: null,
      ...extra,
    });
    // In the order Rust sorts them: what waits (urgent first, then oldest), then the rest.
    const read = (id: string, name: string, extra: Partial<ContextSummary>) => mk(id, name, { unreadCount: 0, ...extra });
    const waitingContexts = () => [
      read('ord_5', 'Inès Roux', {
        awaitingAnswer: waiting({ since: '2025-03-10T10:00:00Z', dueAt: '2025-03-13T10:00:00Z', overdue: true, category: 'question' }),
      }),
      // The client core updated it from live events: `overdue` stays false, the due time has passed.
      read('ord_6', 'Paul Lefèvre', {
        awaitingAnswer: waiting({ since: '2025-03-11T08:00:00Z', dueAt: '2025-03-14T08:00:00Z', overdue: false }),
      }),
      read('ord_7', 'Emma Bernard', {
        unreadCount: 1,
        awaitingAnswer: waiting({ since: '2025-03-14T09:00:00Z', category: 'side_effects' }),
      }),
      read('ord_8', 'Hugo Moreau', {
        type: 'examen',
        allowedActions: ['explanation', 'interpretation', 'next_steps'],
        awaitingAnswer: waiting({ since: '2025-03-14T11:48:00Z', category: 'interpretation' }),
      }),
      read('ord_1', 'Lucas Petit', { lastMessageAt: '2025-03-14T09:00:00Z' }),
    ];
    const now = () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(new Date('2025-03-14T12:00:00Z'));
    };
    const rowOf = (id: string) => screen.getAllByTestId('inbox-row').find((r) => r.dataset.contextId === id)!;
    const visibleIds = () => screen.getAllByTestId('inbox-row').map((r) => r.dataset.contextId);

    it('shows how long a question has waited, a red "En retard" badge once due, and its category', () => {
      now();
      renderInbox(waitingContexts());
      expect(within(rowOf('ord_7')).getByTestId('awaiting-answer')).toHaveTextContent('En attente de réponse · depuis 3 h');
      expect(within(rowOf('ord_7')).getByTestId('awaiting-category')).toHaveTextContent('Effets indésirables');
      expect(within(rowOf('ord_7')).queryByText('En retard')).not.toBeInTheDocument();
      expect(rowOf('ord_7')).toHaveAttribute('data-awaiting', 'true');

      expect(within(rowOf('ord_8')).getByTestId('awaiting-answer')).toHaveTextContent('depuis 12 min');
      expect(within(rowOf('ord_8')).getByTestId('awaiting-category')).toHaveTextContent('Interprétation');

      // Late per the server…
      expect(within(rowOf('ord_5')).getByTestId('awaiting-answer')).toHaveTextContent('depuis 4 j');
      expect(within(rowOf('ord_5')).getByText('En retard')).toHaveClass('bg-red-600', 'text-white');
      expect(within(rowOf('ord_5')).getByTestId('awaiting-category')).toHaveTextContent("Question sur l'ordonnance");
      expect(rowOf('ord_5')).toHaveAttribute('data-awaiting', 'overdue');
      // …or per the clock, before the server lists it again; no category, no label.
      expect(within(rowOf('ord_6')).getByText('En retard')).toBeInTheDocument();
      expect(within(rowOf('ord_6')).queryByTestId('awaiting-category')).not.toBeInTheDocument();

      expect(within(rowOf('ord_1')).queryByTestId('awaiting-answer')).not.toBeInTheDocument();
      expect(rowOf('ord_1')).toHaveAttribute('data-awaiting', 'false');
      // Still Rust's order.
      expect(visibleIds()).toEqual(['ord_5', 'ord_6', 'ord_7', 'ord_8', 'ord_1']);
    });

    it('keeps the waiting line inside a 360 px row: it wraps, its texts truncate, the badge does not shrink', () => {
      now();
      renderInbox(waitingContexts());
      const line = within(rowOf('ord_5')).getByTestId('awaiting-answer');
      expect(line).toHaveClass('flex-wrap', 'min-w-0');
      expect(within(line).getByText(/depuis/)).toHaveClass('truncate');
      expect(within(line).getByText('En retard').closest('.shrink-0')).not.toBeNull();
      expect(within(line).getByText("Question sur l'ordonnance")).toHaveClass('truncate');
    });

    it('filters by the waiting question’s category, keeping Rust’s order', async () => {
      now();
      const user = userEvent.setup();
      renderInbox(waitingContexts());
      const filter = screen.getByRole('combobox', { name: 'Filtrer par catégorie' });
      expect(filter).toHaveValue('');
      // Every category, in the order of i18n.test.ts's list of labels.
      expect(within(filter).getAllByRole('option').map((o) => o.textContent)).toEqual([
        'Toutes les catégories',
        ...QUESTION_CATEGORIES.map((c) => translate('fr', CATEGORY_LABEL[c])),
      ]);
      await user.selectOptions(filter, 'Effets indésirables');
      expect(visibleIds()).toEqual(['ord_7']);
      await user.selectOptions(filter, 'Interprétation');
      expect(visibleIds()).toEqual(['ord_8']);
      await user.selectOptions(filter, 'Autre');
      expect(screen.queryAllByTestId('inbox-row')).toHaveLength(0);
      expect(screen.getByText('Aucune conversation à afficher.')).toBeInTheDocument();
      await user.selectOptions(filter, 'Toutes les catégories');
      expect(visibleIds()).toEqual(['ord_5', 'ord_6', 'ord_7', 'ord_8', 'ord_1']);
    });

    it('keeps only the conversations waiting for an answer, combined with the other filters', async () => {
      now();
      const user = userEvent.setup();
      renderInbox(waitingContexts());
      const toggle = screen.getByRole('button', { name: 'En attente de réponse' });
      expect(toggle).toHaveAttribute('aria-pressed', 'false');
      await user.click(toggle);
      expect(toggle).toHaveAttribute('aria-pressed', 'true');
      expect(visibleIds()).toEqual(['ord_5', 'ord_6', 'ord_7', 'ord_8']);
      await user.click(screen.getByRole('button', { name: 'Non lus' }));
      expect(visibleIds()).toEqual(['ord_7']);
      await user.click(screen.getByRole('button', { name: 'Non lus' }));
      await user.type(screen.getByRole('searchbox'), 'ines');
      expect(visibleIds()).toEqual(['ord_5']);
    });

    it('speaks English too', () => {
      now();
      render(
        <I18nProvider initialLanguage="en">
          <DoctorInbox contexts={waitingContexts()} status="ready" error={null} openContext={null} onOpen={vi.fn()} onRetry={vi.fn()} hasDraft={() => false} />
        </I18nProvider>,
      );
      expect(within(rowOf('ord_7')).getByTestId('awaiting-answer')).toHaveTextContent('Awaiting reply · for 3 hrs');
      expect(within(rowOf('ord_7')).getByTestId('awaiting-category')).toHaveTextContent('Side effects');
      expect(within(rowOf('ord_5')).getByText('Overdue')).toBeInTheDocument();
      expect(screen.getByRole('combobox', { name: 'Filter by category' })).toHaveDisplayValue('All categories');
      expect(screen.getByRole('button', { name: 'Awaiting reply' })).toBeInTheDocument();
    });

    describe('grouped by category', () => {
      // Rust's order: what waits (urgent first, then oldest), then unread, then latest message.
      const { category: _absent, ...withoutCategory } = waiting({ since: '2025-03-14T11:00:00Z' });
      const groupingContexts = () => [
        ...waitingContexts().slice(0, 4), // ord_5 question, ord_6 none, ord_7 side effects, ord_8 interpretation
        read('ord_9', 'Chloé Dubois', { awaitingAnswer: waiting({ since: '2025-03-14T10:00:00Z', category: 'other' }) }),
        read('ord_10', 'Nathan Girard', {
          session: { ...session('ordonnance', 'ord_10', patient, doctor), status: 'closed' },
          awaitingAnswer: waiting({ since: '2025-03-14T10:30:00Z', category: 'question' }),
        }),
        // The category left out altogether, not null.
        read('ord_11', 'Zoé Fontaine', { awaitingAnswer: withoutCategory }),
        read('ord_12', 'Jules Mercier', { unreadCount: 2, lastMessageAt: '2025-03-14T11:30:00Z' }),
        read('ord_1', 'Lucas Petit', { lastMessageAt: '2025-03-14T09:00:00Z' }),
      ];
      const flatOrder = ['ord_5', 'ord_6', 'ord_7', 'ord_8', 'ord_9', 'ord_10', 'ord_11', 'ord_12', 'ord_1'];
      const groups = () =>
        screen.queryAllByTestId('inbox-group').map((g) => ({
          category: g.dataset.category,
          label: within(g).getByTestId('inbox-group-label').textContent,
          count: within(g).getByTestId('inbox-group-count').textContent,
          ids: within(g)
            .getAllByTestId('inbox-row')
            .map((r) => r.dataset.contextId),
        }));
      const groupToggle = (name = 'Grouper par catégorie') => screen.getByRole('button', { name });

      it('is off by default; on, shows one section per category in the filter’s order, with counts, each keeping Rust’s order', async () => {
        now();
        const user = userEvent.setup();
        renderInbox(groupingContexts());
        const toggle = groupToggle();
        expect(toggle).toHaveAttribute('aria-pressed', 'false');
        expect(screen.queryAllByTestId('inbox-group')).toHaveLength(0);
        expect(visibleIds()).toEqual(flatOrder);

        await user.click(toggle);
        expect(toggle).toHaveAttribute('aria-pressed', 'true');
        expect(groups()).toEqual([
          { category: 'question', label: "Question sur l'ordonnance", count: '2', ids: ['ord_5', 'ord_10'] },
          { category: 'side_effects', label: 'Effets indésirables', count: '1', ids: ['ord_7'] },
          { category: 'interpretation', label: 'Interprétation', count: '1', ids: ['ord_8'] },
          { category: 'other', label: 'Autre', count: '1', ids: ['ord_9'] },
          { category: 'uncategorized', label: 'Question sans catégorie', count: '2', ids: ['ord_6', 'ord_11'] },
          { category: 'not-awaiting', label: 'Sans question en attente', count: '2', ids: ['ord_12', 'ord_1'] },
        ]);
        // The labels are the filter's, in its order; empty categories have no section.
        const filter = screen.getByRole('combobox', { name: 'Filtrer par catégorie' });
        const filterLabels = within(filter)
          .getAllByRole('option')
          .map((o) => o.textContent);
        const categoryLabels = groups()
          .slice(0, 4)
          .map((g) => g.label);
        expect(filterLabels.filter((l) => categoryLabels.includes(l))).toEqual(categoryLabels);
        expect(screen.queryByText('Explication du résultat', { selector: '[data-testid="inbox-group-label"]' })).not.toBeInTheDocument();

        // Each section is a region named by its heading (with the count spoken), with its own list.
        const section = screen.getByRole('region', { name: "Question sur l'ordonnance (2 conversations)" });
        const heading = within(section).getByRole('heading', { level: 2 });
        expect(section).toHaveAttribute('aria-labelledby', heading.id);
        expect(section).toHaveAttribute('data-testid', 'inbox-group');
        expect(within(section).getByRole('list')).toContainElement(rowOf('ord_10'));
        expect(screen.getByRole('region', { name: 'Effets indésirables (1 conversation)' })).toContainElement(rowOf('ord_7'));
        for (const group of screen.getAllByTestId('inbox-group')) {
          expect(group.tagName).toBe('SECTION');
          expect(within(group).getAllByRole('list')).toHaveLength(1);
        }

        // The rows are the same rows, with their hooks.
        expect(rowOf('ord_5')).toHaveAttribute('data-awaiting', 'overdue');
        expect(rowOf('ord_10')).toHaveAttribute('data-session-status', 'closed');
        expect(rowOf('ord_12')).toHaveAttribute('data-unread', '2');
        expect(within(rowOf('ord_7')).getByTestId('awaiting-category')).toHaveTextContent('Effets indésirables');

        // Off again: the flat list, in Rust's order.
        await user.click(toggle);
        expect(toggle).toHaveAttribute('aria-pressed', 'false');
        expect(screen.queryAllByTestId('inbox-group')).toHaveLength(0);
        expect(screen.queryAllByRole('heading', { level: 2 })).toHaveLength(0);
        expect(screen.getByRole('list', { name: 'Conversations' })).toContainElement(rowOf('ord_5'));
        expect(visibleIds()).toEqual(flatOrder);
      });

      it('puts the conversations where nothing waits in the last section', async () => {
        const user = userEvent.setup();
        renderInbox(); // Nothing waits in any of them.
        await user.click(groupToggle());
        expect(groups()).toEqual([{ category: 'not-awaiting', label: 'Sans question en attente', count: '4', ids: ['ord_2', 'ord_3', 'ord_1', 'ord_4'] }]);
      });

      it('groups what the filters keep', async () => {
        now();
        const user = userEvent.setup();
        renderInbox(groupingContexts());
        await user.click(groupToggle());
        const summary = () => groups().map((g) => [g.category, g.count, g.ids]);

        await user.click(screen.getByRole('button', { name: 'En attente de réponse' }));
        expect(summary()).toEqual([
          ['question', '2', ['ord_5', 'ord_10']],
          ['side_effects', '1', ['ord_7']],
          ['interpretation', '1', ['ord_8']],
          ['other', '1', ['ord_9']],
          ['uncategorized', '2', ['ord_6', 'ord_11']],
        ]);
        await user.click(screen.getByRole('button', { name: 'En attente de réponse' }));

        await user.selectOptions(screen.getByRole('combobox', { name: 'Filtrer par catégorie' }), "Question sur l'ordonnance");
        expect(summary()).toEqual([['question', '2', ['ord_5', 'ord_10']]]);
        await user.selectOptions(screen.getByTestId('status-filter'), 'Clôturées');
        expect(summary()).toEqual([['question', '1', ['ord_10']]]);
        await user.selectOptions(screen.getByTestId('status-filter'), 'Toutes');
        await user.selectOptions(screen.getByRole('combobox', { name: 'Filtrer par catégorie' }), 'Toutes les catégories');

        await user.click(screen.getByRole('button', { name: 'Non lus' }));
        expect(summary()).toEqual([
          ['side_effects', '1', ['ord_7']],
          ['not-awaiting', '1', ['ord_12']],
        ]);
        await user.click(screen.getByRole('button', { name: 'Non lus' }));

        await user.type(screen.getByRole('searchbox'), 'zoe');
        expect(summary()).toEqual([['uncategorized', '1', ['ord_11']]]);
        await user.clear(screen.getByRole('searchbox'));
        await user.type(screen.getByRole('searchbox'), 'personne');
        expect(screen.queryAllByTestId('inbox-group')).toHaveLength(0);
        expect(screen.getByText('Aucune conversation à afficher.')).toBeInTheDocument();
        await user.clear(screen.getByRole('searchbox'));
        expect(groups()).toHaveLength(6);
      });

      it('speaks English', async () => {
        now();
        const user = userEvent.setup();
        render(
          <I18nProvider initialLanguage="en">
            <DoctorInbox contexts={groupingContexts()} status="ready" error={null} openContext={null} onOpen={vi.fn()} onRetry={vi.fn()} hasDraft={() => false} />
          </I18nProvider>,
        );
        const toggle = groupToggle('Group by category');
        expect(toggle).toHaveAttribute('aria-pressed', 'false');
        await user.click(toggle);
        expect(groups().map((g) => g.label)).toEqual([
          'Question about the prescription',
          'Side effects',
          'Interpretation',
          'Other',
          'Question without a category',
          'No question awaiting reply',
        ]);
        expect(screen.getByRole('region', { name: 'Question about the prescription (2 conversations)' })).toContainElement(rowOf('ord_10'));
        expect(screen.getByRole('region', { name: 'Side effects (1 conversation)' })).toContainElement(rowOf('ord_7'));
      });
    });
  });
});

describe('conversation status in the lists', () => {
  const fr = (key: Parameters<typeof translate>[1]) => translate('fr', key);
  const withStatus = (context: ContextSummary, id: string, status: 'active' | 'closed' | 'archived', extra: Partial<ContextSummary> = {}): ContextSummary => ({
    ...context,
    id,
    title: `${context.title} (${id})`,
    session: { ...session(context.type, id), status },
    ...extra,
  });
  // Rust's order, kept: an active one, a closed one, an archived one, a record without a conversation.
  const items = [
    withStatus(ordonnance, 'ord_1', 'active'),
    withStatus(ordonnance, 'ord_2', 'closed'),
    withStatus(examen, 'exa_3', 'archived'),
    { ...examen, id: 'exa_4', title: 'Radiographie (exa_4)', session: null },
  ];

  describe('DoctorInbox', () => {
    const renderInbox = (language: 'fr' | 'en' = 'fr') =>
      render(
        <I18nProvider initialLanguage={language}>
          <DoctorInbox contexts={items} status="ready" error={null} openContext={null} onOpen={vi.fn()} onRetry={vi.fn()} hasDraft={() => false} />
        </I18nProvider>,
      );
    const visibleIds = () => screen.queryAllByTestId('inbox-row').map((r) => r.dataset.contextId);
    const rowOf = (id: string) => screen.getAllByTestId('inbox-row').find((r) => r.dataset.contextId === id)!;

    it('shows every conversation by default, with a badge on the closed and archived ones', () => {
      renderInbox();
      const filter = screen.getByRole('combobox', { name: fr('sessionStatus.filter') });
      expect(filter).toHaveDisplayValue(fr('sessionStatus.all'));
      expect(within(filter).getAllByRole('option').map((o) => o.textContent)).toEqual(STATUS_FILTERS.map((f) => fr(STATUS_FILTER_LABEL[f])));
      expect(visibleIds()).toEqual(['ord_1', 'ord_2', 'exa_3', 'exa_4']);
      expect(within(rowOf('ord_2')).getByTestId('status-badge')).toHaveTextContent('Clôturée');
      expect(within(rowOf('exa_3')).getByTestId('status-badge')).toHaveTextContent('Archivée');
      expect(within(rowOf('ord_1')).queryByTestId('status-badge')).not.toBeInTheDocument();
      expect(within(rowOf('exa_4')).queryByTestId('status-badge')).not.toBeInTheDocument();
      expect(rowOf('ord_2')).toHaveAttribute('data-session-status', 'closed');
    });

    it('filters by status from the keyboard, keeping Rust’s order; a record without a conversation counts as active', async () => {
      const user = userEvent.setup();
      renderInbox();
      const filter = screen.getByRole('combobox', { name: fr('sessionStatus.filter') });
      await user.selectOptions(filter, fr('sessionStatus.closed'));
      expect(visibleIds()).toEqual(['ord_2']);
      await user.selectOptions(filter, fr('sessionStatus.archived'));
      expect(visibleIds()).toEqual(['exa_3']);
      await user.selectOptions(filter, fr('sessionStatus.active'));
      expect(visibleIds()).toEqual(['ord_1', 'exa_4']);
      // Combined with the other filters.
      await user.type(screen.getByRole('searchbox'), 'radio');
      expect(visibleIds()).toEqual(['exa_4']);
      await user.clear(screen.getByRole('searchbox'));
      filter.focus();
      await user.selectOptions(filter, fr('sessionStatus.all'));
      expect(visibleIds()).toEqual(['ord_1', 'ord_2', 'exa_3', 'exa_4']);
    });

    it('speaks English', () => {
      renderInbox('en');
      const filter = screen.getByRole('combobox', { name: 'Filter by status' });
      expect(within(filter).getAllByRole('option').map((o) => o.textContent)).toEqual(['All', 'Active', 'Closed', 'Archived']);
      expect(within(rowOf('ord_2')).getByTestId('status-badge')).toHaveTextContent('Closed');
      expect(within(rowOf('exa_3')).getByTestId('status-badge')).toHaveTextContent('Archived');
    });
  });

  describe('PatientHome', () => {
    const renderHome = (language: 'fr' | 'en' = 'fr') =>
      render(
        <I18nProvider initialLanguage={language}>
          <PatientHome
            user={patientUser}
            contexts={items}
            status="ready"
            error={null}
            onOpen={vi.fn()}
            onRetry={vi.fn()}
            hasDraft={() => false}
            notifications={null}
            unseenNotifications={0}
          />
        </I18nProvider>,
      );
    const titles = () => screen.queryAllByRole('article').map((a) => within(a).getByRole('heading').textContent);
    const cardOf = (title: string) => screen.getByRole('heading', { name: title }).closest('article')!;

    it('shows every record by default, with a badge on closed and archived conversations', () => {
      renderHome();
      const group = screen.getByRole('group', { name: fr('sessionStatus.filter') });
      expect(within(group).getAllByRole('button').map((b) => b.textContent)).toEqual(['Toutes', 'Actives', 'Clôturées', 'Archivées']);
      expect(within(group).getByRole('button', { name: 'Toutes' })).toHaveAttribute('aria-pressed', 'true');
      expect(screen.getAllByRole('article')).toHaveLength(4);
      expect(within(cardOf(items[1]!.title)).getByTestId('status-badge')).toHaveTextContent('Clôturée');
      expect(within(cardOf(items[2]!.title)).getByTestId('status-badge')).toHaveTextContent('Archivée');
      expect(within(cardOf(items[0]!.title)).queryByTestId('status-badge')).not.toBeInTheDocument();
    });

    it('filters by status, with the type filter too', async () => {
      const user = userEvent.setup();
      renderHome();
      const group = screen.getByRole('group', { name: fr('sessionStatus.filter') });
      await user.click(within(group).getByRole('button', { name: 'Clôturées' }));
      expect(within(group).getByRole('button', { name: 'Clôturées' })).toHaveAttribute('aria-pressed', 'true');
      expect(titles()).toEqual([items[1]!.title]);
      await user.click(within(group).getByRole('button', { name: 'Archivées' }));
      expect(titles()).toEqual([items[2]!.title]);
      await user.click(within(group).getByRole('button', { name: 'Actives' }));
      expect(titles()).toEqual([items[0]!.title, items[3]!.title]);
      await user.click(screen.getByRole('button', { name: 'Examens' }));
      expect(titles()).toEqual([items[3]!.title]);
      // From the keyboard.
      within(group).getByRole('button', { name: 'Toutes' }).focus();
      await user.keyboard('{Enter}');
      expect(titles()).toEqual([items[2]!.title, items[3]!.title]);
    });

    it('speaks English', () => {
      renderHome('en');
      const group = screen.getByRole('group', { name: 'Filter by status' });
      expect(within(group).getAllByRole('button').map((b) => b.textContent)).toEqual(['All', 'Active', 'Closed', 'Archived']);
      expect(within(cardOf(items[1]!.title)).getByTestId('status-badge')).toHaveTextContent('Closed');
    });
  });
});

describe('the doctor’s absence, before the patient writes', () => {
  // The server sends it only to the record's patient, only while the absence runs.
  const absence: Absence = {
    from: '2025-03-10T08:00:00Z',
    until: '2099-03-20T17:00:00Z',
    note: 'Le Dr Karim Benali me remplace : 01 23 45 67 89.',
  };
  const away: ContextSummary = { ...ordonnance, doctorAbsence: absence };

  function renderHome(contexts: ContextSummary[], language: 'fr' | 'en' = 'fr') {
    render(
      <I18nProvider initialLanguage={language}>
        <PatientHome
          user={patientUser}
          contexts={contexts}
          status="ready"
          error={null}
          onOpen={vi.fn()}
          onRetry={vi.fn()}
          hasDraft={() => false}
          notifications={null}
          unseenNotifications={0}
        />
      </I18nProvider>,
    );
  }
  const card = (title: string) => screen.getByRole('article', { name: title });

  it('shows on the record of the absent doctor, with the note and the emergency numbers, and describes its button', () => {
    renderHome([away, examen]);
    const notice = within(card(away.title)).getByTestId('doctor-absence');
    expect(notice).toHaveAttribute('role', 'note');
    expect(notice).toHaveTextContent("Votre médecin est absent jusqu'au 20 mars 2099.");
    expect(within(notice).getByTestId('doctor-absence-note')).toHaveTextContent('Le Dr Karim Benali me remplace : 01 23 45 67 89.');
    expect(notice).toHaveTextContent("En cas d'urgence, appelez le 15 ou le 112.");
    const button = within(card(away.title)).getByRole('button', { name: /Questions sur l'ordonnance/ });
    expect(button).toBeEnabled();
    expect(button).toHaveAccessibleDescription(/absent jusqu'au 20 mars 2099\..*Le Dr Karim Benali me remplace.*appelez le 15 ou le 112/);
    // The exam's doctor is not away.
    expect(within(card(examen.title)).queryByTestId('doctor-absence')).not.toBeInTheDocument();
    expect(within(card(examen.title)).getByRole('button', { name: /Discussion sur les résultats/ })).not.toHaveAccessibleDescription(/absent/);
  });

  it('says the return date without a note, in English too', () => {
    renderHome([{ ...ordonnance, doctorAbsence: { from: absence.from, until: absence.until } }], 'en');
    const notice = screen.getByTestId('doctor-absence');
    expect(notice).toHaveTextContent('Your doctor is away until 20 March 2099.');
    expect(notice).toHaveTextContent('In an emergency, call 15 or 112.');
    expect(within(notice).queryByTestId('doctor-absence-note')).not.toBeInTheDocument();
  });

  it('is gone once the absence has ended, and is for the record’s patient only', () => {
    const ended: ContextSummary = { ...ordonnance, doctorAbsence: { ...absence, until: '2025-03-01T00:00:00Z' } };
    renderHome([ended]);
    expect(screen.queryByTestId('doctor-absence')).not.toBeInTheDocument();
    expect(doctorAbsenceFor(away, patientUser)).toEqual(absence);
    expect(doctorAbsenceFor(away, { id: doctor.id, type: 'medecin' })).toBeNull();
    expect(doctorAbsenceFor(away, { id: otherPatient.id, type: 'patient' })).toBeNull();
    expect(doctorAbsenceFor(ordonnance, patientUser)).toBeNull();
  });

  it('adds to the button’s description, after its tooltip', () => {
    inFrench(
      <>
        <p id="absence-note">Votre médecin est absent.</p>
        <MessagingButton contextType="ordonnance" onClick={vi.fn()} describedBy="absence-note" />
      </>,
    );
    const button = screen.getByRole('button');
    expect(button.getAttribute('aria-describedby')).toBe(`${screen.getByRole('tooltip').id} absence-note`);
    expect(button).toHaveAccessibleDescription(/seuls vous et le médecin prescripteur.*Votre médecin est absent\./);
  });
});

describe('the doctor’s office hours, before the patient writes', () => {
  // The server sends them only to the record's patient, when the doctor set them.
  const hours: OfficeHours = {
    timeZone: 'Europe/Paris',
    slots: [
      { day: 'thursday', start: '14:00', end: '18:00' },
      { day: 'monday', start: '14:00', end: '18:00' },
      { day: 'monday', start: '09:00', end: '12:00' },
    ],
  };
  const withHours: ContextSummary = { ...ordonnance, doctorOfficeHours: hours };

  function renderHome(contexts: ContextSummary[], language: 'fr' | 'en' = 'fr') {
    render(
      <I18nProvider initialLanguage={language}>
        <PatientHome
          user={patientUser}
          contexts={contexts}
          status="ready"
          error={null}
          onOpen={vi.fn()}
          onRetry={vi.fn()}
          hasDraft={() => false}
          notifications={null}
          unseenNotifications={0}
        />
      </I18nProvider>,
    );
  }
  const card = (title: string) => screen.getByRole('article', { name: title });

  it('show on the record as one line, days Monday first, each day’s ranges by start, with the zone’s city, and describe its button', () => {
    renderHome([withHours, examen]);
    const line = within(card(withHours.title)).getByTestId('doctor-office-hours');
    expect(line).toHaveAttribute('role', 'note');
    expect(line).toHaveTextContent(
      'Dr Sophie Martin lit les messages : lun. 9:00–12:00, 14:00–18:00 · jeu. 14:00–18:00 (heure de Paris)',
    );
    const button = within(card(withHours.title)).getByRole('button', { name: /Questions sur l'ordonnance/ });
    expect(button).toHaveAccessibleDescription(/seuls vous et le médecin prescripteur.*lit les messages : lun\. 9:00–12:00/);
    // The exam's doctor set none.
    expect(within(card(examen.title)).queryByTestId('doctor-office-hours')).not.toBeInTheDocument();
  });

  it('go with the absence notice when the doctor is also away, both describing the button', () => {
    const absence: Absence = { from: '2025-03-10T08:00:00Z', until: '2099-03-20T17:00:00Z' };
    renderHome([{ ...withHours, doctorAbsence: absence }]);
    expect(screen.getByTestId('doctor-absence')).toBeInTheDocument();
    expect(screen.getByTestId('doctor-office-hours')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: /Questions sur l'ordonnance/ })).toHaveAccessibleDescription(
      /absent jusqu'au 20 mars 2099\..*lit les messages : lun\./,
    );
  });

  it('speak English, with an overseas zone', () => {
    renderHome([{ ...ordonnance, doctorOfficeHours: { timeZone: 'America/Martinique', slots: [{ day: 'saturday', start: '08:00', end: '24:00' }] } }], 'en');
    expect(screen.getByTestId('doctor-office-hours')).toHaveTextContent('Dr Sophie Martin reads messages: Sat 8:00–24:00 (Martinique time)');
  });

  it('are absent when the doctor set none, and are for the record’s patient only', () => {
    renderHome([{ ...ordonnance, doctorOfficeHours: null }, examen]);
    expect(screen.queryByTestId('doctor-office-hours')).not.toBeInTheDocument();
    expect(screen.getByRole('button', { name: /Questions sur l'ordonnance/ })).not.toHaveAccessibleDescription(/lit les messages/);
    expect(doctorOfficeHoursFor(withHours, patientUser)).toEqual(hours);
    expect(doctorOfficeHoursFor(withHours, { id: doctor.id, type: 'medecin' })).toBeNull();
    expect(doctorOfficeHoursFor(withHours, { id: otherPatient.id, type: 'patient' })).toBeNull();
    expect(doctorOfficeHoursFor(ordonnance, patientUser)).toBeNull();
  });
});
