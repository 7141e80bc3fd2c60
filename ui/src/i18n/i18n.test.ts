import { describe, expect, it } from 'vitest';
import { en } from './en';
import { fr } from './fr';
import { translate } from './index';
import { createFormatters } from './format';
import { CATEGORY_LABEL, QUESTION_CATEGORIES } from '../features/contexts/questions';
import { CLOSE_REASONS, CLOSE_REASON_LABEL } from '../features/messages/systemEvents';

describe('translations', () => {
  it('has a non-empty English text for every French key', () => {
    for (const key of Object.keys(fr) as (keyof typeof fr)[]) {
      expect(en[key], key).toBeTruthy();
    }
    expect(Object.keys(en).sort()).toEqual(Object.keys(fr).sort());
  });

  it('interpolates and picks French and English plural forms', () => {
    expect(translate('fr', 'unread.badge', { count: 1 })).toBe('1 message non lu');
    expect(translate('fr', 'unread.badge', { count: 3 })).toBe('3 messages non lus');
    expect(translate('en', 'unread.badge', { count: 1 })).toBe('1 unread message');
    expect(translate('fr', 'typing.one', { name: 'Dr Sophie Martin' })).toBe("Dr Sophie Martin est en train d'écrire…");
  });

  it('names every question category in French and English', () => {
    expect(QUESTION_CATEGORIES).toEqual(['question', 'clarification', 'side_effects', 'explanation', 'interpretation', 'next_steps', 'other']);
    expect(QUESTION_CATEGORIES.map((c) => translate('fr', CATEGORY_LABEL[c]))).toEqual([
      "Question sur l'ordonnance",
      'Précision (dose, durée…)',
      'Effets indésirables',
      'Explication du résultat',
      'Interprétation',
      'Suite à donner',
      'Autre',
    ]);
    expect(QUESTION_CATEGORIES.map((c) => translate('en', CATEGORY_LABEL[c]))).toEqual([
      'Question about the prescription',
      'Clarification (dose, duration…)',
      'Side effects',
      'Explanation of the result',
      'Interpretation',
      'Next steps',
      'Other',
    ]);
    for (const key of ['composer.category', 'inbox.categoryFilter', 'inbox.allCategories', 'inbox.awaitingOnly', 'inbox.overdue'] as const) {
      expect(en[key], key).toBeTruthy();
      expect(fr[key], key).toBeTruthy();
    }
  });

  it('names every close reason and the close / reopen notices in French and English', () => {
    expect(CLOSE_REASONS).toEqual(['answered', 'consultation', 'contact_practice', 'other']);
    expect(CLOSE_REASONS.map((r) => translate('fr', CLOSE_REASON_LABEL[r]))).toEqual([
      'Les questions ont reçu une réponse',
      'Une consultation est nécessaire',
      'Merci de contacter le cabinet',
      'Autre motif',
    ]);
    expect(CLOSE_REASONS.map((r) => translate('en', CLOSE_REASON_LABEL[r]))).toEqual([
      'Your questions were answered',
      'A consultation is needed',
      'Please contact the practice',
      'Other reason',
    ]);
    expect(translate('fr', 'system.closed')).toBe('Conversation clôturée par le médecin');
    expect(translate('fr', 'system.reopened')).toBe('Conversation rouverte par le médecin');
    expect(translate('en', 'system.closed')).toBe('Conversation closed by the doctor');
    expect(translate('en', 'system.reopened')).toBe('Conversation reopened by the doctor');
  });

  it('formats waits and expected answer dates in both languages', () => {
    const now = new Date('2025-03-14T12:00:00Z');
    const fmtFr = createFormatters('fr');
    const fmtEn = createFormatters('en');
    const spaced = (text: string) => text.replace(/\s/g, ' ');
    expect(spaced(fmtFr.elapsed('2025-03-14T11:59:40Z', now))).toBe('1 min');
    expect(spaced(fmtFr.elapsed('2025-03-14T11:48:00Z', now))).toBe('12 min');
    expect(spaced(fmtFr.elapsed('2025-03-14T09:00:00Z', now))).toBe('3 h');
    expect(spaced(fmtFr.elapsed('2025-03-10T10:00:00Z', now))).toBe('4 j');
    expect(spaced(fmtEn.elapsed('2025-03-14T09:00:00Z', now))).toBe('3 hrs');
    expect(spaced(translate('fr', 'inbox.awaiting', { duration: fmtFr.elapsed('2025-03-14T09:00:00Z', now) }))).toBe(
      'En attente de réponse · depuis 3 h',
    );
    expect(translate('fr', 'conversation.answerExpected', { date: fmtFr.date('2025-03-17T09:00:00Z') })).toBe(
      'Réponse attendue avant le 17 mars 2025',
    );
    expect(translate('en', 'conversation.answerExpected', { date: fmtEn.date('2025-03-17T09:00:00Z') })).toBe(
      'Reply expected by 17 March 2025',
    );
  });

  it('words the doctor’s office hours and their automatic answer in both languages', () => {
    const until = '2025-03-17T08:00:00Z';
    const whenFr = translate('fr', 'absence.when', { date: createFormatters('fr').date(until), time: createFormatters('fr').time(until) });
    const whenEn = translate('en', 'absence.when', { date: createFormatters('en').date(until), time: createFormatters('en').time(until) });
    expect(`${translate('fr', 'system.outsideHours', { date: whenFr })} ${translate('fr', 'system.outsideHoursHelp')}`).toBe(
      "Votre médecin lit les messages pendant ses horaires : il lira le vôtre à partir du 17 mars 2025 à 09:00. En cas d'urgence, appelez le 15 ou le 112.",
    );
    expect(`${translate('en', 'system.outsideHours', { date: whenEn })} ${translate('en', 'system.outsideHoursHelp')}`).toBe(
      'Your doctor reads messages during their office hours: they will read yours from 17 March 2025 at 09:00. In an emergency, call 15 or 112.',
    );
    const labels = ['officeHours.title', 'officeHours.addRange', 'officeHours.removeRange', 'officeHours.clear', 'weekday.monday', 'weekday.short.monday'] as const;
    expect(labels.map((key) => translate('fr', key))).toEqual(['Horaires de réponse', 'Ajouter une plage', 'Retirer', 'Supprimer les horaires', 'Lundi', 'lun.']);
    expect(labels.map((key) => translate('en', key))).toEqual(['Office hours', 'Add hours', 'Remove', 'Delete office hours', 'Monday', 'Mon']);
  });

  it('words the doctor’s absence and its automatic answer in both languages', () => {
    const dateFr = createFormatters('fr').date('2025-03-20T17:00:00Z');
    const dateEn = createFormatters('en').date('2025-03-20T17:00:00Z');
    expect(`${translate('fr', 'system.absent', { date: dateFr })} ${translate('fr', 'system.absentHelp')}`).toBe(
      "Réponse automatique : votre médecin est absent jusqu'au 20 mars 2025. Il lira votre message à son retour. En cas d'urgence, appelez le 15 ou le 112.",
    );
    expect(`${translate('en', 'system.absent', { date: dateEn })} ${translate('en', 'system.absentHelp')}`).toBe(
      'Automatic answer: your doctor is away until 20 March 2025. They will read your message when back. In an emergency, call 15 or 112.',
    );
    expect(translate('fr', 'absence.patient.away', { date: dateFr })).toBe("Votre médecin est absent jusqu'au 20 mars 2025.");
    expect(translate('en', 'absence.patient.away', { date: dateEn })).toBe('Your doctor is away until 20 March 2025.');
    expect(translate('fr', 'absence.patient.emergency')).toBe("En cas d'urgence, appelez le 15 ou le 112.");
    expect(translate('en', 'absence.patient.emergency')).toBe('In an emergency, call 15 or 112.');
    const labels = ['absence.title', 'absence.from', 'absence.until', 'absence.note', 'absence.save', 'absence.end'] as const;
    expect(labels.map((key) => translate('fr', key))).toEqual([
      'Absence',
      'Du',
      'Au',
      'Mot pour vos patients (facultatif)',
      "Enregistrer l'absence",
      "Terminer l'absence",
    ]);
    expect(labels.map((key) => translate('en', key))).toEqual([
      'Absence',
      'From',
      'Until',
      'Note to your patients (optional)',
      'Save absence',
      'End absence',
    ]);
  });
});
