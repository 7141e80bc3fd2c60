/**
 * The two kinds of DMP record a conversation can be about. Title and description are
 * i18n keys; their French texts are the product's reference wording:
 *   ordonnance: 💊 "Questions sur l'ordonnance" — "Posez vos questions sur votre traitement,
 *               la posologie ou les effets indésirables."
 *   examen:     🔬 "Discussion sur les résultats" — "Échangez avec votre médecin au sujet
 *               de vos résultats d'examen."
 */
import type { ContextType } from '../../api';
import type { MessageKey } from '../../i18n';

export type SupportedContext = { icon: string; title: MessageKey; description: MessageKey; kind: MessageKey; author: MessageKey };

export const supportedContexts: Record<ContextType, SupportedContext> = {
  ordonnance: {
    icon: '💊',
    title: 'contexts.ordonnance.title',
    description: 'contexts.ordonnance.description',
    kind: 'contexts.ordonnance.kind',
    author: 'contexts.ordonnance.author',
  },
  examen: {
    icon: '🔬',
    title: 'contexts.examen.title',
    description: 'contexts.examen.description',
    kind: 'contexts.examen.kind',
    author: 'contexts.examen.author',
  },
};
