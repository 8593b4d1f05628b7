import { useEffect, useState } from 'react';
import type { ImsJob } from '../../../sdk/client.ts';
import { useApi } from '../api/client-context.tsx';
import { formatDate } from '../api/format.ts';
import { jobLabel, useJobs } from '../api/jobs.tsx';
import { importTasks, type ImportTask } from '../api/web-import.ts';
import { useI18n } from '../i18n/i18n.tsx';
import { ErrorMessage } from './ErrorMessage.tsx';
import { JobBadge } from './JobsPanel.tsx';

const TASK_STATUS: Record<ImportTask['status'], ImsJob['status']> = {
  pending: 'INIT',
  processing: 'RUNNING',
  success: 'SUCCESS',
  failure: 'FAIL',
};

interface Row {
  id: string;
  what: string;
  status: ImsJob['status'] | undefined;
  when: string | undefined;
  detail: string;
}

/**
 * The image's jobs: its imports (the server keeps them as the image's tasks), the project's
 * jobs of the image (GET /v1/{project_id}/jobs?image_id=), and the copies of it this tab
 * started (a copy's job names the new image, not its source).
 */
export function ImageJobs({ imageId }: { imageId: string }) {
  const { t, locale } = useI18n();
  const { client, session } = useApi();
  const { jobs } = useJobs();
  const [tasks, setTasks] = useState<(ImportTask & { created_at?: string })[]>([]);
  const [imageJobs, setImageJobs] = useState<ImsJob[]>([]);
  const [error, setError] = useState<unknown>(null);
  const running =
    tasks.some((x) => x.status === 'pending' || x.status === 'processing') ||
    imageJobs.some((j) => j.status === 'INIT' || j.status === 'RUNNING');
  useEffect(() => {
    let stopped = false;
    const load = () =>
      Promise.all([
        importTasks(client, imageId),
        client.GET('/v1/{project_id}/jobs', {
          path: { project_id: session.project.id },
          query: { image_id: imageId },
        }),
      ]).then(
        ([list, page]) => {
          if (stopped) return;
          setTasks(list);
          setImageJobs(page.jobs);
        },
        (err: unknown) => !stopped && setError(err),
      );
    void load();
    const timer = running ? setInterval(() => void load(), 2000) : null;
    return () => {
      stopped = true;
      if (timer) clearInterval(timer);
    };
  }, [client, session.project.id, imageId, running]);

  const tracked = jobs.filter((j) => j.imageId === imageId && !tasks.some((x) => x.id === j.id));
  const rows: Row[] = [
    ...imageJobs
      .filter((j) => !tasks.some((x) => x.id === j.job_id) && !tracked.some((x) => x.id === j.job_id))
      .map((j) => ({
        id: j.job_id,
        what: jobLabel(j, t),
        status: j.status,
        when: j.begin_time,
        detail: j.status === 'FAIL' ? (j.fail_reason ?? '') : '',
      })),
    ...tracked.map((j) => ({
      id: j.id,
      what: j.label,
      status: j.job?.status,
      when: j.job?.begin_time ?? j.startedAt,
      detail: j.job?.status === 'FAIL' ? (j.job.fail_reason ?? '') : '',
    })),
    ...tasks.map((x) => ({
      id: x.id,
      what: t('details.importTask'),
      status: TASK_STATUS[x.status],
      when: x.created_at,
      detail: x.message,
    })),
  ];
  rows.sort((a, b) => (b.when ?? '').localeCompare(a.when ?? ''));
  return (
    <section aria-labelledby="image-jobs-heading" className="card">
      <h2 id="image-jobs-heading">{t('details.jobs')}</h2>
      <ErrorMessage error={error} />
      {rows.length === 0 ? (
        <p className="muted">{t('details.noJobs')}</p>
      ) : (
        <table className="image-jobs">
          <thead>
            <tr>
              <th scope="col">{t('details.jobWhat')}</th>
              <th scope="col">{t('col.status')}</th>
              <th scope="col">{t('col.created')}</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.id} data-job-id={r.id}>
                <td>
                  {r.what}
                  <div className="muted small mono">{r.id}</div>
                  {r.detail && <div className="problem small">{r.detail}</div>}
                </td>
                <td>
                  <JobBadge status={r.status} />
                </td>
                <td>{formatDate(r.when, locale)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
