import { useId, useState, type FormEvent } from 'react';
import type { GlanceImage } from '../../../sdk/client.ts';
import { useApi } from '../api/client-context.tsx';
import { checkCopyRequest, copyImage, defaultCopyName, type CopyProblem } from '../api/copy.ts';
import { useJobs } from '../api/jobs.tsx';
import { Dialog } from '../components/Dialog.tsx';
import { ErrorMessage } from '../components/ErrorMessage.tsx';
import { useI18n } from '../i18n/i18n.tsx';

/**
 * IMS's in-region copy: a new private image of this project, made by a job that
 * the jobs panel follows.
 */
export function CopyDialog({
  image,
  onClose,
}: {
  image: GlanceImage;
  onClose: (changed: string | null) => void;
}) {
  const { t } = useI18n();
  const { client } = useApi();
  const { track } = useJobs();
  const [name, setName] = useState(() => defaultCopyName(image.name ?? ''));
  const [description, setDescription] = useState('');
  const [problems, setProblems] = useState<CopyProblem[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();
  const source = image.name || image.id!;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const found = checkCopyRequest(name, description);
    setProblems(found);
    if (found.length) return;
    setBusy(true);
    setError(null);
    try {
      const jobId = await copyImage(client, image.id!, name, description);
      track(jobId, t('copy.jobLabel', { source, name }), image.id!);
      onClose(t('copy.started', { name, job: jobId }));
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  const nameProblems = problems.filter((p) => p.startsWith('name'));
  const descriptionProblems = problems.filter((p) => p.startsWith('description'));
  return (
    <Dialog title={t('copy.title', { name: source })} onClose={() => onClose(null)}>
      <form onSubmit={(e) => void submit(e)} className="form" noValidate>
        <p className="hint">{t('copy.intro')}</p>
        <label htmlFor={`${id}-name`}>{t('copy.name')}</label>
        <input
          id={`${id}-name`}
          value={name}
          onChange={(e) => setName(e.target.value)}
          data-autofocus
          required
          aria-invalid={nameProblems.length > 0 || undefined}
          aria-describedby={`${id}-name-hint${nameProblems.length ? ` ${id}-name-problems` : ''}`}
        />
        <p className="hint" id={`${id}-name-hint`}>
          {t('copy.nameHint')}
        </p>
        {nameProblems.length > 0 && (
          <ul className="problems" id={`${id}-name-problems`} role="alert">
            {nameProblems.map((p) => (
              <li key={p}>{t(`copy.${p}`)}</li>
            ))}
          </ul>
        )}
        <label htmlFor={`${id}-description`}>{t('copy.description')}</label>
        <textarea
          id={`${id}-description`}
          value={description}
          rows={3}
          onChange={(e) => setDescription(e.target.value)}
          aria-invalid={descriptionProblems.length > 0 || undefined}
          aria-describedby={descriptionProblems.length ? `${id}-description-problems` : undefined}
        />
        {descriptionProblems.length > 0 && (
          <ul className="problems" id={`${id}-description-problems`} role="alert">
            {descriptionProblems.map((p) => (
              <li key={p}>{t(`copy.${p}`)}</li>
            ))}
          </ul>
        )}
        <ErrorMessage error={error} />
        <div className="dialog-actions">
          <button type="button" className="button button-quiet" onClick={() => onClose(null)}>
            {t('actions.cancel')}
          </button>
          <button type="submit" className="button button-primary" disabled={busy}>
            {t('copy.submit')}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
