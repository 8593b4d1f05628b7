import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { ImsApiError, type ImsJob } from '../../../sdk/client.ts';
import { useApi } from './client-context.tsx';

/** A job this tab started (a copy, an import); IMS has no "list my jobs" call, so the tab remembers them. */
export interface TrackedJob {
  id: string;
  /** What the user asked for, e.g. "Copy web-server to web-server-copy". */
  label: string;
  startedAt: string;
  /** The image the job works on (a copy's source), for its details page. */
  imageId?: string;
}

export interface JobState extends TrackedJob {
  job: ImsJob | null;
  /** The last poll's failure (the job itself may be fine). */
  error: unknown;
}

export const isFinished = (job: ImsJob | null) => job?.status === 'SUCCESS' || job?.status === 'FAIL';

const POLL_MS = 1500;
const KEEP = 20;
const storageKey = (projectId: string) => `ims.console.jobs.${projectId}`;

function loadTracked(projectId: string): TrackedJob[] {
  try {
    const raw = JSON.parse(sessionStorage.getItem(storageKey(projectId)) ?? '[]') as unknown;
    return Array.isArray(raw)
      ? raw.filter(
          (j): j is TrackedJob =>
            typeof j === 'object' && j !== null && typeof (j as TrackedJob).id === 'string',
        )
      : [];
  } catch {
    return [];
  }
}

interface JobsState {
  jobs: JobState[];
  track: (id: string, label: string, imageId?: string) => void;
  dismiss: (id: string) => void;
}

const JobsContext = createContext<JobsState | null>(null);

/**
 * The jobs of this tab and project, polled until each ends. Kept in sessionStorage
 * with the session, so a reload still follows them.
 */
export function JobsProvider({ children }: { children: ReactNode }) {
  const { client, session } = useApi();
  const projectId = session.project.id;
  const [tracked, setTracked] = useState<TrackedJob[]>(() => loadTracked(projectId));
  const [answers, setAnswers] = useState<Record<string, { job: ImsJob | null; error: unknown }>>({});

  useEffect(() => {
    sessionStorage.setItem(storageKey(projectId), JSON.stringify(tracked));
  }, [projectId, tracked]);

  // A job the server no longer knows (404) is not asked about again.
  const gone = (id: string) => {
    const e = answers[id]?.error;
    return e instanceof ImsApiError && e.status === 404;
  };
  const pending = tracked
    .filter((t) => !isFinished(answers[t.id]?.job ?? null) && !gone(t.id))
    .map((t) => t.id);
  const pendingKey = pending.join(',');
  useEffect(() => {
    if (!pendingKey) return;
    let stopped = false;
    const poll = async () => {
      for (const id of pendingKey.split(',')) {
        try {
          const job = await client.GET('/v1/{project_id}/jobs/{job_id}', {
            path: { project_id: projectId, job_id: id },
          });
          if (!stopped) setAnswers((a) => ({ ...a, [id]: { job, error: null } }));
        } catch (error) {
          if (!stopped) setAnswers((a) => ({ ...a, [id]: { job: a[id]?.job ?? null, error } }));
        }
      }
    };
    void poll();
    const timer = setInterval(() => void poll(), POLL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [client, projectId, pendingKey]);

  const track = useCallback((id: string, label: string, imageId?: string) => {
    setTracked((list) =>
      [
        { id, label, startedAt: new Date().toISOString(), ...(imageId ? { imageId } : {}) },
        ...list.filter((j) => j.id !== id),
      ].slice(0, KEEP),
    );
  }, []);
  const dismiss = useCallback((id: string) => setTracked((list) => list.filter((j) => j.id !== id)), []);

  const value = useMemo<JobsState>(
    () => ({
      jobs: tracked.map((t) => ({
        ...t,
        job: answers[t.id]?.job ?? null,
        error: answers[t.id]?.error ?? null,
      })),
      track,
      dismiss,
    }),
    [tracked, answers, track, dismiss],
  );
  return <JobsContext.Provider value={value}>{children}</JobsContext.Provider>;
}

export function useJobs(): JobsState {
  const ctx = useContext(JobsContext);
  if (!ctx) throw new Error('useJobs outside JobsProvider');
  return ctx;
}
