import { useEffect, useState } from 'react';
import { useApi } from '../api/client-context.tsx';
import { formatBytes } from '../api/format.ts';
import { projectQuota, quotaRoom, type QuotaResource } from '../api/quota.ts';
import { useI18n } from '../i18n/i18n.tsx';
import { ErrorMessage } from './ErrorMessage.tsx';

const MiB = 1048576;

/** The project's image quota (count and total size) against its use, with a warning when one more image would not fit. */
export function QuotaUsage({ bytes }: { bytes: number }) {
  const { t, locale } = useI18n();
  const { client } = useApi();
  const [resources, setResources] = useState<QuotaResource[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    projectQuota(client).then(setResources, setError);
  }, [client]);
  if (error) return <ErrorMessage error={error} title={t('quota.failed')} />;
  if (!resources) return <p className="muted small">{t('quota.loading')}</p>;
  const room = quotaRoom(resources, bytes);
  const line = (r: QuotaResource) => {
    const bytesOf = (mib: number) => formatBytes(mib * MiB, locale);
    const used = r.type === 'image_size_total' ? bytesOf(r.used) : String(r.used);
    const limit =
      r.quota < 0 ? t('quota.unlimited') : r.type === 'image_size_total' ? bytesOf(r.quota) : String(r.quota);
    const label = r.type === 'image' ? t('quota.images') : t('quota.size');
    return (
      <div className="quota-line" key={r.type} data-quota={r.type}>
        <span className="quota-label">{label}</span>
        {r.quota >= 0 ? (
          <meter min={0} max={Math.max(r.quota, 1)} value={Math.min(r.used, r.quota)} aria-label={label} />
        ) : (
          <span />
        )}
        <span className="quota-value">{t('quota.usedOf', { used, limit })}</span>
      </div>
    );
  };
  return (
    <section className="quota" aria-labelledby="quota-heading">
      <h2 id="quota-heading" className="small-heading">
        {t('quota.title')}
      </h2>
      {resources.map(line)}
      {!room.images && (
        <p className="problems" role="status">
          {t('quota.imagesFull')}
        </p>
      )}
      {room.images && !room.size && (
        <p className="problems" role="status">
          {t('quota.sizeFull')}
        </p>
      )}
    </section>
  );
}
