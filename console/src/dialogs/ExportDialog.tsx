import { useId, useState, type FormEvent } from 'react';
import type { GlanceImage } from '../../../sdk/client.ts';
import { useApi } from '../api/client-context.tsx';
import { useJobs } from '../api/jobs.tsx';
import { checkObject, EXPORT_FORMATS, exportImage, type ObjectProblem } from '../api/object-store.ts';
import { Dialog } from '../components/Dialog.tsx';
import { ErrorMessage } from '../components/ErrorMessage.tsx';
import { JobBadge } from '../components/JobsPanel.tsx';
import { useI18n } from '../i18n/i18n.tsx';

/**
 * IMS's export: the image written to a new object in a bucket granted to the project, by a
 * job that the dialog (and the jobs panel) follows to its end.
 */
export function ExportDialog({
  image,
  onClose,
}: {
  image: GlanceImage;
  onClose: (changed: string | null) => void;
}) {
  const { t } = useI18n();
  const { client } = useApi();
  const { track, jobs } = useJobs();
  const [bucket, setBucket] = useState('');
  const [object, setObject] = useState(() => `${image.name || image.id}.${image.disk_format ?? 'img'}`);
  const [format, setFormat] = useState('');
  const [problems, setProblems] = useState<ObjectProblem[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [jobId, setJobId] = useState<string | null>(null);
  const id = useId();
  const name = image.name || image.id!;
  const state = jobId ? jobs.find((j) => j.id === jobId) : undefined;
  const job = state?.job ?? null;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const found = checkObject(bucket.trim(), object);
    setProblems(found);
    if (found.length) return;
    setBusy(true);
    setError(null);
    try {
      const started = await exportImage(client, image.id!, bucket.trim(), object, format);
      track(started, t('export.jobLabel', { name, target: `${bucket.trim()}:${object}` }), image.id!);
      setJobId(started);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  const bucketProblems = problems.filter((p) => p === 'bucketName');
  const objectProblems = problems.filter((p) => p !== 'bucketName');
  return (
    <Dialog title={t('export.title', { name })} onClose={() => onClose(null)}>
      {jobId ? (
        <div className="export-job" data-job-id={jobId} aria-live="polite">
          <p>{t('export.started', { target: `${bucket.trim()}:${object}`, job: jobId })}</p>
          <p>
            <JobBadge status={job?.status} />{' '}
            <progress max={100} value={Math.round(job?.progress ?? 0)} aria-label={t('export.progress')} />{' '}
            <span className="small">{t('jobs.percent', { percent: Math.round(job?.progress ?? 0) })}</span>
          </p>
          {job?.status === 'SUCCESS' && <p className="notice">{t('export.done')}</p>}
          {job?.status === 'FAIL' && (
            <div className="error" role="alert">
              <p className="error-title">{t('jobs.failed')}</p>
              <p className="error-message">{job.fail_reason ?? t('jobs.noReason')}</p>
              {job.error_code && (
                <p className="error-meta">
                  <code>{job.error_code}</code>
                </p>
              )}
            </div>
          )}
          <div className="dialog-actions">
            <button
              type="button"
              className="button button-primary"
              onClick={() => onClose(null)}
              data-autofocus
            >
              {t('actions.close')}
            </button>
          </div>
        </div>
      ) : (
        <form onSubmit={(e) => void submit(e)} className="form" noValidate>
          <p className="hint">{t('export.intro')}</p>
          <label htmlFor={`${id}-bucket`}>{t('export.bucket')}</label>
          <input
            id={`${id}-bucket`}
            value={bucket}
            onChange={(e) => setBucket(e.target.value)}
            data-autofocus
            required
            autoComplete="off"
            aria-invalid={bucketProblems.length > 0 || undefined}
            aria-describedby={bucketProblems.length ? `${id}-bucket-problems` : undefined}
          />
          {bucketProblems.length > 0 && (
            <ul className="problems" id={`${id}-bucket-problems`} role="alert">
              {bucketProblems.map((p) => (
                <li key={p}>{t(`object.${p}`)}</li>
              ))}
            </ul>
          )}
          <label htmlFor={`${id}-object`}>{t('export.object')}</label>
          <input
            id={`${id}-object`}
            value={object}
            onChange={(e) => setObject(e.target.value)}
            required
            autoComplete="off"
            aria-invalid={objectProblems.length > 0 || undefined}
            aria-describedby={`${id}-object-hint${objectProblems.length ? ` ${id}-object-problems` : ''}`}
          />
          <p className="hint" id={`${id}-object-hint`}>
            {t('export.objectHint')}
          </p>
          {objectProblems.length > 0 && (
            <ul className="problems" id={`${id}-object-problems`} role="alert">
              {objectProblems.map((p) => (
                <li key={p}>{t(`object.${p}`)}</li>
              ))}
            </ul>
          )}
          <label htmlFor={`${id}-format`}>{t('export.format')}</label>
          <select id={`${id}-format`} value={format} onChange={(e) => setFormat(e.target.value)}>
            <option value="">{t('export.formatUnchanged', { format: image.disk_format ?? '—' })}</option>
            {EXPORT_FORMATS.map((f) => (
              <option key={f} value={f}>
                {f}
              </option>
            ))}
          </select>
          <ErrorMessage error={error} />
          <div className="dialog-actions">
            <button type="button" className="button button-quiet" onClick={() => onClose(null)}>
              {t('actions.cancel')}
            </button>
            <button type="submit" className="button button-primary" disabled={busy}>
              {t('export.submit')}
            </button>
          </div>
        </form>
      )}
    </Dialog>
  );
}
