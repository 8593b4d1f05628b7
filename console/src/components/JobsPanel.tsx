import { useId } from 'react';
import type { ImsJob } from '../../../sdk/client.ts';
import { formatDate } from '../api/format.ts';
import { useJobs, type JobState } from '../api/jobs.tsx';
import { useI18n } from '../i18n/i18n.tsx';
import type { MessageKey } from '../i18n/messages.ts';
import { Link } from '../router.tsx';
import { ErrorMessage } from './ErrorMessage.tsx';

const TONE: Record<ImsJob['status'], string> = { INIT: 'idle', RUNNING: 'busy', SUCCESS: 'ok', FAIL: 'bad' };

export function JobBadge({ status }: { status: ImsJob['status'] | undefined }) {
  const { t } = useI18n();
  const s = status ?? 'INIT';
  return (
    <span className={`badge badge-${TONE[s] ?? 'idle'}`} data-job-status={s}>
      {t(`job.status.${s}` as MessageKey)}
    </span>
  );
}

function JobRow({ state }: { state: JobState }) {
  const { t, locale } = useI18n();
  const { dismiss } = useJobs();
  const id = useId();
  const job = state.job;
  const progress = Math.round(job?.progress ?? 0);
  const imageId = job?.status === 'SUCCESS' ? (job.entities.image_id as string | undefined) : undefined;
  return (
    <li className="job" data-job-id={state.id} aria-labelledby={`${id}-label`}>
      <div className="job-head">
        <span id={`${id}-label`} className="job-label">
          {state.label}
        </span>
        <JobBadge status={job?.status} />
        <button
          type="button"
          className="icon-button"
          onClick={() => dismiss(state.id)}
          aria-label={t('jobs.dismiss', { label: state.label })}
        >
          ×
        </button>
      </div>
      <div className="job-progress">
        <progress max={100} value={progress} aria-label={t('jobs.progressOf', { label: state.label })} />
        <span className="small">{t('jobs.percent', { percent: progress })}</span>
      </div>
      <p className="muted small">
        <span className="mono">{state.id}</span>
        {job?.job_type ? ` · ${job.job_type}` : ''} · {formatDate(job?.begin_time ?? state.startedAt, locale)}
      </p>
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
      {imageId && (
        <p>
          <Link to={`images/${imageId}`}>
            {t(imageId === state.imageId ? 'jobs.openImage' : 'jobs.openResult')}
          </Link>
        </p>
      )}
    </li>
  );
}

/**
 * The project's newest jobs with their live status and progress, and a failed job's error;
 * hidden while there are none.
 */
export function JobsPanel() {
  const { t } = useI18n();
  const { jobs, error } = useJobs();
  if (jobs.length === 0 && !error) return null;
  return (
    <section className="card jobs" aria-labelledby="jobs-heading">
      <h2 id="jobs-heading">{t('jobs.title')}</h2>
      <ErrorMessage error={error} title={t('jobs.pollFailed')} />
      <ul className="job-list" aria-live="polite">
        {jobs.map((j) => (
          <JobRow key={j.id} state={j} />
        ))}
      </ul>
    </section>
  );
}
