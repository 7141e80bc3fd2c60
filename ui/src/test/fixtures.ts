/** Realistic French test data: one patient, two doctors, a prescription and an exam. */
import type { ContextSummary, HistoryPage, Inbox, Participant, Session, SignedIn, SystemEvent, UiMessage, User } from '../api';

export const patientUser: User = { id: 'patient_123', type: 'patient', name: 'Camille Durand', username: 'camille.durand' };
export const doctorUser: User = { id: 'medecin_456', type: 'medecin', name: 'Dr Sophie Martin', username: 'sophie.martin' };

export const patient: Participant = { id: patientUser.id, type: 'patient', name: patientUser.name };
export const doctor: Participant = { id: doctorUser.id, type: 'medecin', name: doctorUser.name };
export const otherDoctor: Participant = { id: 'medecin_777', type: 'medecin', name: 'Dr Karim Benali' };
export const otherPatient: Participant = { id: 'patient_555', type: 'patient', name: 'Lucas Petit' };

export function session(contextType: 'ordonnance' | 'examen', contextId: string, p = patient, d = doctor): Session {
  return {
    id: `session_${contextType}_${contextId}_${p.id}_${d.id}`,
    contextType,
    contextId,
    participants: { patient: p, doctor: d },
    status: 'active',
    createdAt: '2025-03-12T09:00:00Z',
    lastActivity: '2025-03-14T08:30:00Z',
    messageCount: 3,
    unreadCount: { patient: 1, doctor: 0 },
    lastSeq: 3,
  };
}

export const ordonnance: ContextSummary = {
  type: 'ordonnance',
  id: 'ord_789',
  title: 'Amoxicilline 1 g — angine bactérienne',
  date: '2025-03-12',
  summary: 'Amoxicilline 1 g, un comprimé matin et soir pendant 7 jours. Paracétamol 1 g si fièvre.',
  patient,
  doctor,
  session: session('ordonnance', 'ord_789'),
  unreadCount: 2,
  lastMessageAt: '2025-03-14T08:30:00Z',
  hasUrgentUnread: false,
  awaitingAnswer: null,
  allowedActions: ['question', 'clarification', 'side_effects'],
};

export const examen: ContextSummary = {
  type: 'examen',
  id: 'exa_321',
  title: 'Bilan sanguin complet',
  date: '2025-02-27',
  summary: 'NFS, glycémie à jeun, bilan lipidique. Cholestérol LDL légèrement élevé (1,65 g/L).',
  patient,
  doctor: otherDoctor,
  session: null,
  unreadCount: 0,
  lastMessageAt: null,
  hasUrgentUnread: false,
  awaitingAnswer: null,
  allowedActions: ['explanation', 'interpretation', 'next_steps'],
};

let seqCounter = 100;

type MessageInit = Partial<UiMessage> & { from?: Participant; to?: Participant };

/** A message of the ordonnance conversation; from the patient unless said otherwise. */
export function makeMessage(init: MessageInit = {}): UiMessage {
  const { from = patient, to, ...rest } = init;
  const seq = rest.seq ?? ++seqCounter;
  const recipient = to ?? (from.id === patient.id ? doctor : patient);
  return {
    id: `msg_${seq}`,
    clientMessageId: `cm_${seq}`,
    content: 'Bonjour docteur',
    type: 'text',
    sender: from,
    recipient,
    context: { type: 'ordonnance', id: 'ord_789' },
    timestamp: '2025-03-14T09:00:00Z',
    status: 'sent',
    attachments: [],
    metadata: { isUrgent: false, requiresResponse: false },
    sessionId: session('ordonnance', 'ord_789').id,
    seq,
    encrypted: true,
    ...rest,
  };
}

/** The sender of the server's `system` messages (no account has it). */
export const systemSender: Participant = { id: 'system', type: 'system', name: 'DMP Messagerie' };

const SYSTEM_FALLBACK: Record<SystemEvent['event'], string> = {
  closed: 'Le médecin a clôturé cette conversation.',
  reopened: 'Le médecin a rouvert cette conversation.',
  absent: "Votre médecin est absent : il lira votre message à son retour. En cas d'urgence, appelez le 15 ou le 112.",
  outside_hours:
    "Votre médecin lit les messages pendant ses horaires : il lira le vôtre à sa prochaine plage. En cas d'urgence, appelez le 15 ou le 112.",
};

/**
 * A `system` message of the ordonnance conversation as the client core passes it on:
 * from "DMP Messagerie" to the patient, the server's French sentence as content, the
 * event in `metadata.system`, neither encrypted nor flagged as clear text.
 */
export function systemMessage(system: SystemEvent, init: Partial<UiMessage> = {}): UiMessage {
  const { encrypted: _encrypted, ...message } = makeMessage({
    from: systemSender,
    to: patient,
    type: 'system',
    content: SYSTEM_FALLBACK[system.event],
    metadata: { isUrgent: false, requiresResponse: false, system },
    ...init,
  });
  return { ...message, clientMessageId: init.clientMessageId ?? `sys_${message.id}` };
}

/** An own message the server has not acknowledged yet, as `send_message` returns it. */
export function localMessage(clientMessageId: string, content: string, local: UiMessage['local'] = { state: 'sending' }): UiMessage {
  const { encrypted: _encrypted, ...message } = makeMessage({ id: `local:${clientMessageId}`, clientMessageId, seq: 0, content, local });
  return message;
}

/** `resume_session`'s answer. */
export function signedIn(user: User, readOnly = false): SignedIn {
  return { user, readOnly };
}

/** The inbox as Rust sends it (the order given is Rust's). */
export function inbox(contexts: ContextSummary[]): Inbox {
  return { contexts, unreadTotal: contexts.reduce((sum, c) => sum + c.unreadCount, 0) };
}

export function historyPage(messages: UiMessage[], extra: Partial<{ hasMore: boolean; nextBefore: number | null }> = {}): HistoryPage {
  return {
    messages,
    hasMore: extra.hasMore ?? false,
    nextBefore: extra.nextBefore ?? null,
    session: session('ordonnance', 'ord_789'),
  };
}
