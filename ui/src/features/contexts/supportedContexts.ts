/**
 * The two kinds of DMP record a conversation can be about, with their icon and texts:
 *   ordonnance: pill icon, "Questions sur l'ordonnance" — "Posez vos questions sur votre traitement,
 *               la posologie ou les effets indésirables."
 *   examen:     microscope icon, "Discussion sur les résultats" — "Échangez avec votre médecin au sujet
 *               de vos résultats d'examen."
 * The icons are SVG components (no emoji in the app's chrome: a workstation without an
 * emoji font would show empty boxes).
 */
import type { ComponentType } from 'react';
import type { ContextType } from '../../api';
import type { MessageKey } from '../../i18n';
import { MicroscopeIcon, PillIcon } from '../../components/icons';

export type SupportedContext = {
  Icon: ComponentType<{ className?: string }>;
  title: MessageKey;
  description: MessageKey;
  kind: MessageKey;
  author: MessageKey;
};

export const supportedContexts: Record<ContextType, SupportedContext> = {
  ordonnance: {
    Icon: PillIcon,
    title: 'contexts.ordonnance.title',
    description: 'contexts.ordonnance.description',
    kind: 'contexts.ordonnance.kind',
    author: 'contexts.ordonnance.author',
  },
  examen: {
    Icon: MicroscopeIcon,
    title: 'contexts.examen.title',
    description: 'contexts.examen.description',
    kind: 'contexts.examen.kind',
    author: 'contexts.examen.author',
  },
};
