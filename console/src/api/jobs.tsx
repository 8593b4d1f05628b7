import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  type ReactNode,
} from 'react';
import type { ImsJob } from '../../../sdk/client.ts';
import { useI18n } from '../i18n/i18n.tsx';
import type { MessageKey } from '../i18n/messages.ts';
import { useApi } from './client-context.tsx';

/** A job this tab started (a copy, an import, an export): it knows what the user asked for. */
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
}

export const isFinished = (job: ImsJob | null) => job?.status === 'SUCCESS' || job?.status === 'FAIL';

/** How many of the project's newest jobs the panel shows. */
export const SHOWN = 20;
const POLL_MS = 1500;
/** Between polls while nothing runs: jobs started elsewhere (the CLI, another tab) still appear. */
const IDLE_MS = 15_000;
/** A job this tab started is shown before the list names it, for at most this long. */
const UNLISTED_MS = 60_000;
const trackedKey = (projectId: string) => `ims.console.jobs.${projectId}`;
const dismissedKey = (projectId: string) => `ims.console.jobs.dismissed.${projectId}`;

function loadTracked(projectId: string): TrackedJob[] {
  try {
    const raw = JSON.parse(sessionStorage.getItem(trackedKey(projectId)) ?? '[]') as unknown;
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

function loadDismissed(projectId: string): string[] {
  try {
    const raw = JSON.parse(sessionStorage.getItem(dismissedKey(projectId)) ?? '[]') as unknown;
    return Array.isArray(raw) ? raw.filter((id): id is string => typeof id === 'string') : [];
  } catch {
    return [];
  }
}

const KNOWN_TYPES = new Set([
  'glanceImageImport',
  'imsImportImageJob',
  'imsImportDataImageJob',
  'imsNativeImportImageJob',
  'imsNativeExportImageJob',
  'imsCopyImageInRegionJob',
  'imsCopyImageCrossUserJob',
  'imsAddImageMembersJob',
  'imsDelImageMembersJob',
  'imsUpdateImageMembersJob',
]);

/** A label for a job this tab did not start: its type in words, and its image. */
export function jobLabel(job: ImsJob, t: (key: MessageKey, values?: Record<string, string>) => string) {
  const name = job.entities.image_name ?? job.entities.image_id;
  const image = typeof name === 'string' && name ? name : '';
  const type = KNOWN_TYPES.has(job.job_type) ? t(`jobs.type.${job.job_type}` as MessageKey) : job.job_type;
  return image ? t('jobs.typeOf', { type, image }) : type;
}

interface JobsState {
  /** The project's newest jobs (and this tab's just started), newest first, without dismissed ones. */
  jobs: JobState[];
  /** The last poll's failure (the jobs themselves may be fine). */
  error: unknown;
  track: (id: string, label: string, imageId?: string) => void;
  dismiss: (id: string) => void;
}

const JobsContext = createContext<JobsState | null>(null);

/**
 * The project's jobs from `GET /v1/{project_id}/jobs`, polled while any runs, so the panel
 * shows them after a reload and shows jobs started elsewhere. What this tab started keeps
 * its label, and what the user removed stays removed, for the session (sessionStorage).
 */
export function JobsProvider({ children }: { children: ReactNode }) {
  const { client, session } = useApi();
  const { t } = useI18n();
  const projectId = session.project.id;
  const [tracked, setTracked] = useState<TrackedJob[]>(() => loadTracked(projectId));
  const [dismissed, setDismissed] = useState<string[]>(() => loadDismissed(projectId));
  const [listed, setListed] = useState<ImsJob[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [wake, setWake] = useState(0);

  useEffect(() => {
    sessionStorage.setItem(trackedKey(projectId), JSON.stringify(tracked));
  }, [projectId, tracked]);
  useEffect(() => {
    sessionStorage.setItem(dismissedKey(projectId), JSON.stringify(dismissed));
  }, [projectId, dismissed]);

  const [polledAt, setPolledAt] = useState(0);
  // The poll reads what this tab started without restarting on each change.
  const trackedNow = useRef(tracked);
  useEffect(() => {
    trackedNow.current = tracked;
  }, [tracked]);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let busy = true;
    const poll = async () => {
      try {
        const page = await client.GET('/v1/{project_id}/jobs', {
          path: { project_id: projectId },
          query: { limit: String(SHOWN) },
        });
        if (stopped) return;
        const now = Date.now();
        setListed(page.jobs);
        setPolledAt(now);
        setError(null);
        // Fast while a job runs, or while one this tab started is not listed yet.
        busy =
          page.jobs.some((j) => !isFinished(j)) ||
          trackedNow.current.some(
            (x) => !page.jobs.some((j) => j.job_id === x.id) && now - Date.parse(x.startedAt) < UNLISTED_MS,
          );
      } catch (err) {
        if (!stopped) setError(err);
      }
      if (!stopped) timer = setTimeout(() => void poll(), busy ? POLL_MS : IDLE_MS);
    };
    void poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [client, projectId, wake]);

  const track = useCallback((id: string, label: string, imageId?: string) => {
    setTracked((list) =>
      [
        { id, label, startedAt: new Date().toISOString(), ...(imageId ? { imageId } : {}) },
        ...list.filter((j) => j.id !== id),
      ].slice(0, SHOWN),
    );
    // Poll now: the new job shows its first status at once.
    setWake((n) => n + 1);
  }, []);
  const dismiss = useCallback(
    (id: string) => setDismissed((list) => [id, ...list.filter((x) => x !== id)].slice(0, 200)),
    [],
  );

  const value = useMemo<JobsState>(() => {
    const server = listed ?? [];
    const byId = new Map(tracked.map((x) => [x.id, x]));
    const unlisted: JobState[] = tracked
      .filter(
        (x) =>
          !server.some((j) => j.job_id === x.id) &&
          (polledAt === 0 || polledAt - Date.parse(x.startedAt) < UNLISTED_MS),
      )
      .map((x) => ({ ...x, job: null }));
    const shown: JobState[] = server.map((job) => {
      const mine = byId.get(job.job_id);
      const imageId = job.entities.image_id;
      return {
        id: job.job_id,
        label: mine?.label ?? jobLabel(job, t),
        startedAt: mine?.startedAt ?? job.begin_time,
        ...((mine?.imageId ?? (typeof imageId === 'string' ? imageId : undefined))
          ? { imageId: mine?.imageId ?? (imageId as string) }
          : {}),
        job,
      };
    });
    return {
      jobs: [...unlisted, ...shown].filter((j) => !dismissed.includes(j.id)),
      error,
      track,
      dismiss,
    };
  }, [listed, polledAt, tracked, dismissed, error, track, dismiss, t]);
  return <JobsContext.Provider value={value}>{children}</JobsContext.Provider>;
}

export function useJobs(): JobsState {
  const ctx = useContext(JobsContext);
  if (!ctx) throw new Error('useJobs outside JobsProvider');
  return ctx;
}
