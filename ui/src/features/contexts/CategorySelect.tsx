/**
 * A select of question categories (docs/messaging.md), with an empty first choice
 * ("no category" in the composer, "all categories" in the doctor's inbox filter).
 */
import type { QuestionCategory } from '../../api';
import { useI18n, type MessageKey } from '../../i18n';
import { CATEGORY_LABEL, isQuestionCategory } from './questions';

export function CategorySelect({
  id,
  value,
  onChange,
  categories,
  emptyLabel,
  className,
  testId,
}: {
  id: string;
  value: QuestionCategory | null;
  onChange: (category: QuestionCategory | null) => void;
  categories: readonly QuestionCategory[];
  emptyLabel: MessageKey;
  className: string;
  testId?: string;
}) {
  const { t } = useI18n();
  return (
    <select
      id={id}
      value={value ?? ''}
      onChange={(event) => onChange(isQuestionCategory(event.target.value) ? event.target.value : null)}
      data-testid={testId}
      className={className}
    >
      <option value="">{t(emptyLabel)}</option>
      {categories.map((c) => (
        <option key={c} value={c}>
          {t(CATEGORY_LABEL[c])}
        </option>
      ))}
    </select>
  );
}
