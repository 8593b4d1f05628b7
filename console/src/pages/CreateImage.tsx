import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import type { GlanceImage, ImsJob } from '../../../sdk/client.ts';
import { useApi } from '../api/client-context.tsx';
import { formatBytes } from '../api/format.ts';
import { CONTAINER_FORMATS, DISK_FORMATS } from '../api/image-lists.ts';
import { useJobs } from '../api/jobs.tsx';
import { importFromObject, OS_TYPES, parseObjectAddress } from '../api/object-store.ts';
import { uploadImageFile, type UploadProgress } from '../api/upload.ts';
import { ImportFailed, importFromUrl, importTasks, isWebUrl, type ImportTask } from '../api/web-import.ts';
import { ErrorMessage } from '../components/ErrorMessage.tsx';
import { QuotaUsage } from '../components/QuotaUsage.tsx';
import { StatusBadge } from '../components/StatusBadge.tsx';
import { useI18n } from '../i18n/i18n.tsx';
import type { MessageKey } from '../i18n/messages.ts';
import { Link } from '../router.tsx';

type Phase =
  | { step: 'form' }
  | { step: 'creating' }
  | { step: 'uploading'; image: GlanceImage; progress: UploadProgress | null }
  | { step: 'checking'; image: GlanceImage }
  | { step: 'importing'; image: GlanceImage; task: ImportTask | null }
  | { step: 'objectImport'; jobId: string; job: ImsJob | null }
  | { step: 'done'; image: GlanceImage }
  | { step: 'failed'; image: GlanceImage | null; error: unknown };

type Source = 'file' | 'url' | 'object';
const SOURCE_LABEL = {
  file: 'create.sourceFile',
  url: 'create.sourceUrl',
  object: 'create.sourceObject',
} as const;
const IMPORT_POLL_MS = 1500;

/**
 * Create an image record, then stream the chosen file to it with a progress bar,
 * or have the server fetch it from a URL (web-download, a job the jobs panel
 * follows). The server inspects the data as it arrives: a format that does not
 * match the declared one, or an unsafe image, is refused, and its message is shown.
 */
export function CreateImage() {
  const { t, locale } = useI18n();
  const { client, session } = useApi();
  const [name, setName] = useState('');
  const [source, setSource] = useState<Source>('file');
  const [file, setFile] = useState<File | null>(null);
  const [url, setUrl] = useState('');
  const [address, setAddress] = useState('');
  const [osType, setOsType] = useState<string>('Linux');
  const { track } = useJobs();
  const [diskFormat, setDiskFormat] = useState<string>('qcow2');
  const [containerFormat, setContainerFormat] = useState<string>('bare');
  const [visibility, setVisibility] = useState<'private' | 'shared'>('private');
  const [minDisk, setMinDisk] = useState('0');
  const [minRam, setMinRam] = useState('0');
  const [problems, setProblems] = useState<string[]>([]);
  const [phase, setPhase] = useState<Phase>({ step: 'form' });
  const abort = useRef<AbortController | null>(null);
  const id = useId();

  useEffect(() => () => abort.current?.abort(), []);

  // An import runs on the server: the page follows the image until it is active or the task fails.
  const importing = phase.step === 'importing' ? phase.image : null;
  useEffect(() => {
    if (!importing) return;
    let stopped = false;
    let tracked = false;
    const poll = async () => {
      try {
        const [image, tasks] = await Promise.all([
          client.GET('/v2/images/{image_id}', { path: { image_id: importing.id! } }),
          importTasks(client, importing.id!),
        ]);
        if (stopped) return;
        const task = tasks[0] ?? null;
        if (task && !tracked) {
          tracked = true;
          track(task.id, t('create.importJob', { name: importing.name ?? importing.id! }), importing.id!);
        }
        if (image.status === 'active') setPhase({ step: 'done', image });
        else if (task?.status === 'failure')
          setPhase({
            step: 'failed',
            image,
            error: new ImportFailed(task.message || t('jobs.noReason'), task.request_id ?? null),
          });
        else setPhase((p) => (p.step === 'importing' ? { ...p, image, task } : p));
      } catch (error) {
        if (!stopped) setPhase({ step: 'failed', image: importing, error });
      }
    };
    void poll();
    const timer = setInterval(() => void poll(), IMPORT_POLL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
    // Started once per import: the image object changes at each poll, its id does not.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [importing?.id, client]);

  // An import from the object store is an IMS job: the page follows it until the image is made.
  const objectJob = phase.step === 'objectImport' ? phase.jobId : null;
  useEffect(() => {
    if (!objectJob) return;
    let stopped = false;
    const poll = async () => {
      try {
        const job = await client.GET('/v1/{project_id}/jobs/{job_id}', {
          path: { project_id: session.project.id, job_id: objectJob },
        });
        if (stopped) return;
        if (job.status === 'SUCCESS') {
          const image = await client.GET('/v2/images/{image_id}', {
            path: { image_id: job.entities.image_id as string },
          });
          if (!stopped) setPhase({ step: 'done', image });
        } else if (job.status === 'FAIL')
          setPhase({
            step: 'failed',
            image: null,
            error: new ImportFailed(
              [job.fail_reason || t('jobs.noReason'), job.error_code].filter(Boolean).join(' '),
              null,
            ),
          });
        else setPhase((p) => (p.step === 'objectImport' ? { ...p, job } : p));
      } catch (error) {
        if (!stopped) setPhase({ step: 'failed', image: null, error });
      }
    };
    void poll();
    const timer = setInterval(() => void poll(), IMPORT_POLL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [objectJob, client]);

  const upload = async (image: GlanceImage, data: File) => {
    const controller = new AbortController();
    abort.current = controller;
    setPhase({ step: 'uploading', image, progress: null });
    try {
      await uploadImageFile(
        image.id!,
        data,
        session.token,
        (progress) => setPhase((p) => (p.step === 'uploading' ? { ...p, progress } : p)),
        controller.signal,
      );
      setPhase({ step: 'checking', image });
      // The upload answer is empty: the image as stored is read back.
      const stored = await client.GET('/v2/images/{image_id}', { path: { image_id: image.id! } });
      setPhase({ step: 'done', image: stored });
    } catch (error) {
      setPhase({ step: 'failed', image, error });
    }
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const missing: string[] = [];
    if (!name.trim()) missing.push(t('create.needName'));
    if (source === 'file' && !file) missing.push(t('create.needFile'));
    if (source === 'url' && !isWebUrl(url)) missing.push(t('create.needUrl'));
    const target = parseObjectAddress(address.trim());
    const systemDisk = Number(minDisk.trim());
    if (source === 'object') {
      for (const p of target.problems) missing.push(t(`object.${p}`));
      if (
        target.format &&
        (DISK_FORMATS as readonly string[]).includes(target.format) &&
        target.format !== diskFormat
      )
        missing.push(t('create.formatMismatch', { format: diskFormat, extension: target.format }));
      if (!/^\d+$/.test(minDisk.trim()) || systemDisk < 1 || systemDisk > 1024)
        missing.push(t('create.needSystemDisk'));
    }
    setProblems(missing);
    if (missing.length || (source === 'file' && !file)) return;
    setPhase({ step: 'creating' });
    if (source === 'object') {
      try {
        const jobId = await importFromObject(client, {
          name: name.trim(),
          address: address.trim(),
          osType,
          minDisk: systemDisk,
        });
        track(jobId, t('create.importJob', { name: name.trim() }));
        setPhase({ step: 'objectImport', jobId, job: null });
      } catch (error) {
        setPhase({ step: 'failed', image: null, error });
      }
      return;
    }
    try {
      const num = (s: string) => (/^\d+$/.test(s.trim()) ? Number(s) : s);
      const image = await client.POST('/v2/images', {
        body: {
          name: name.trim(),
          disk_format: diskFormat,
          container_format: containerFormat,
          visibility,
          min_disk: num(minDisk),
          min_ram: num(minRam),
        } as never,
      });
      if (source === 'url') {
        await importFromUrl(client, image.id!, url.trim());
        setPhase({ step: 'importing', image: image as GlanceImage, task: null });
      } else await upload(image as GlanceImage, file!);
    } catch (error) {
      setPhase({ step: 'failed', image: null, error });
    }
  };

  const deleteEmpty = async (image: GlanceImage) => {
    try {
      await client.DELETE('/v2/images/{image_id}', { path: { image_id: image.id! } });
      setPhase({ step: 'form' });
    } catch (error) {
      setPhase({ step: 'failed', image, error });
    }
  };

  if (phase.step !== 'form') {
    const image = 'image' in phase ? phase.image : null;
    return (
      <section aria-labelledby="create-heading">
        <h1 id="create-heading">{t('create.title')}</h1>
        <div className="card" aria-live="polite">
          {phase.step === 'creating' && <p>{t('create.creating')}</p>}
          {phase.step === 'uploading' && (
            <>
              <label htmlFor={`${id}-progress`}>{t('create.progress')}</label>
              <progress
                id={`${id}-progress`}
                max={phase.progress?.total ?? file?.size ?? 1}
                value={phase.progress?.loaded ?? 0}
              />
              <p>
                {t('create.uploading', {
                  done: formatBytes(phase.progress?.loaded ?? 0, locale),
                  total: formatBytes(phase.progress?.total ?? file?.size ?? 0, locale),
                  rate: formatBytes(Math.round(phase.progress?.rate ?? 0), locale),
                })}
              </p>
              <button type="button" className="button" onClick={() => abort.current?.abort()}>
                {t('create.abort')}
              </button>
            </>
          )}
          {phase.step === 'checking' && <p>{t('create.checking')}</p>}
          {phase.step === 'objectImport' && (
            <p data-import-job={phase.jobId}>
              {t('create.importingObject', {
                address: address.trim(),
                status: t(`job.status.${phase.job?.status ?? 'INIT'}` as MessageKey),
                percent: Math.round(phase.job?.progress ?? 0),
              })}
            </p>
          )}
          {phase.step === 'importing' && (
            <p data-import-status={phase.image.status}>
              {t('create.importing', {
                status: t(`status.${phase.image.status ?? 'queued'}` as MessageKey),
                url: url.trim(),
              })}
            </p>
          )}
          {phase.step === 'done' && (
            <div className="result">
              <h2>{t('create.result')}</h2>
              <p className="notice" data-field="inspection">
                {t('create.inspected', {
                  format: phase.image.disk_format ?? '—',
                  virtual: formatBytes(phase.image.virtual_size, locale),
                })}
              </p>
              <dl className="props">
                <div className="prop">
                  <dt>{t('field.name')}</dt>
                  <dd>{phase.image.name}</dd>
                </div>
                <div className="prop">
                  <dt>{t('field.status')}</dt>
                  <dd>
                    <StatusBadge status={phase.image.status} />
                  </dd>
                </div>
                <div className="prop">
                  <dt>{t('field.disk_format')}</dt>
                  <dd>{phase.image.disk_format}</dd>
                </div>
                <div className="prop">
                  <dt>{t('field.size')}</dt>
                  <dd data-field="size">{formatBytes(phase.image.size, locale)}</dd>
                </div>
                <div className="prop">
                  <dt>{t('field.virtual_size')}</dt>
                  <dd data-field="virtual_size">{formatBytes(phase.image.virtual_size, locale)}</dd>
                </div>
                <div className="prop">
                  <dt>{t('field.checksum')}</dt>
                  <dd className="mono" data-field="checksum">
                    {phase.image.checksum ?? '—'}
                  </dd>
                </div>
              </dl>
              <div className="page-actions">
                <Link to={`images/${phase.image.id}`} className="button button-primary">
                  {t('create.open')}
                </Link>
                <button type="button" className="button" onClick={() => setPhase({ step: 'form' })}>
                  {t('create.another')}
                </button>
              </div>
            </div>
          )}
          {phase.step === 'failed' && (
            <>
              <ErrorMessage
                error={phase.error}
                title={
                  phase.error instanceof DOMException && phase.error.name === 'AbortError'
                    ? t('create.aborted')
                    : phase.error instanceof ImportFailed
                      ? t('create.importFailed')
                      : undefined
                }
              />
              {image && <p>{t('create.failed', { id: image.id! })}</p>}
              <div className="page-actions">
                {image && (
                  <button
                    type="button"
                    className="button button-danger"
                    onClick={() => void deleteEmpty(image)}
                  >
                    {t('create.deleteQueued')}
                  </button>
                )}
                {image && file && source === 'file' && (
                  <button type="button" className="button" onClick={() => void upload(image, file)}>
                    {t('create.retry')}
                  </button>
                )}
                <button type="button" className="button" onClick={() => setPhase({ step: 'form' })}>
                  {t('actions.back')}
                </button>
              </div>
            </>
          )}
        </div>
      </section>
    );
  }

  return (
    <section aria-labelledby="create-heading">
      <Link to="">{t('actions.back')}</Link>
      <h1 id="create-heading">{t('create.title')}</h1>
      <QuotaUsage bytes={source === 'file' ? (file?.size ?? 0) : 0} />
      <form className="form card" onSubmit={(e) => void submit(e)} noValidate>
        <label htmlFor={`${id}-name`}>{t('create.name')}</label>
        <input
          id={`${id}-name`}
          value={name}
          maxLength={255}
          onChange={(e) => setName(e.target.value)}
          required
        />
        <fieldset className="segmented">
          <legend>{t('create.source')}</legend>
          {(['file', 'url', 'object'] as const).map((k) => (
            <label key={k} className={source === k ? 'segment selected' : 'segment'}>
              <input
                type="radio"
                name="source"
                value={k}
                checked={source === k}
                onChange={() => {
                  setSource(k);
                  // IMS wants the system disk size of an image made from a file (1-1024 GB).
                  if (k === 'object' && minDisk.trim() === '0') setMinDisk('40');
                }}
              />
              {t(SOURCE_LABEL[k])}
            </label>
          ))}
        </fieldset>
        {source === 'file' ? (
          <>
            <label htmlFor={`${id}-file`}>{t('create.file')}</label>
            <input
              id={`${id}-file`}
              type="file"
              onChange={(e) => setFile(e.target.files?.[0] ?? null)}
              required
            />
            {file && <p className="hint">{formatBytes(file.size, locale)}</p>}
          </>
        ) : source === 'object' ? (
          <>
            <label htmlFor={`${id}-object`}>{t('create.object')}</label>
            <input
              id={`${id}-object`}
              value={address}
              placeholder="bucket:path/disk.qcow2"
              autoComplete="off"
              onChange={(e) => {
                setAddress(e.target.value);
                // The extension names the format: the select follows it, and is checked against it.
                const format = parseObjectAddress(e.target.value.trim()).format;
                if (format && (DISK_FORMATS as readonly string[]).includes(format)) setDiskFormat(format);
              }}
              aria-describedby={`${id}-object-hint`}
              required
            />
            <p className="hint" id={`${id}-object-hint`}>
              {t('create.objectHint')}
            </p>
            <label htmlFor={`${id}-os`}>{t('create.osType')}</label>
            <select id={`${id}-os`} value={osType} onChange={(e) => setOsType(e.target.value)}>
              {OS_TYPES.map((o) => (
                <option key={o} value={o}>
                  {o}
                </option>
              ))}
            </select>
          </>
        ) : (
          <>
            <label htmlFor={`${id}-url`}>{t('create.url')}</label>
            <input
              id={`${id}-url`}
              type="url"
              inputMode="url"
              value={url}
              placeholder="https://"
              onChange={(e) => setUrl(e.target.value)}
              aria-describedby={`${id}-url-hint`}
              required
            />
            <p className="hint" id={`${id}-url-hint`}>
              {t('create.urlHint')}
            </p>
          </>
        )}
        <label htmlFor={`${id}-disk`}>{t('create.diskFormat')}</label>
        <select id={`${id}-disk`} value={diskFormat} onChange={(e) => setDiskFormat(e.target.value)}>
          {DISK_FORMATS.map((f) => (
            <option key={f} value={f}>
              {f}
            </option>
          ))}
        </select>
        <label htmlFor={`${id}-container`}>{t('create.containerFormat')}</label>
        <select
          id={`${id}-container`}
          value={containerFormat}
          onChange={(e) => setContainerFormat(e.target.value)}
        >
          {CONTAINER_FORMATS.map((f) => (
            <option key={f} value={f}>
              {f}
            </option>
          ))}
        </select>
        <label htmlFor={`${id}-vis`}>{t('create.visibility')}</label>
        <select
          id={`${id}-vis`}
          value={visibility}
          onChange={(e) => setVisibility(e.target.value as 'private' | 'shared')}
        >
          <option value="private">{t('visibility.private')}</option>
          <option value="shared">{t('visibility.shared')}</option>
        </select>
        <label htmlFor={`${id}-mindisk`}>{t('create.minDisk')}</label>
        <input
          id={`${id}-mindisk`}
          inputMode="numeric"
          value={minDisk}
          onChange={(e) => setMinDisk(e.target.value)}
        />
        <label htmlFor={`${id}-minram`}>{t('create.minRam')}</label>
        <input
          id={`${id}-minram`}
          inputMode="numeric"
          value={minRam}
          onChange={(e) => setMinRam(e.target.value)}
        />
        {problems.length > 0 && (
          <ul className="problems" role="alert">
            {problems.map((p) => (
              <li key={p}>{p}</li>
            ))}
          </ul>
        )}
        <div className="form-actions">
          <button type="submit" className="button button-primary">
            {t(source === 'file' ? 'create.submit' : 'create.submitImport')}
          </button>
        </div>
      </form>
    </section>
  );
}
