import type { GlanceImage } from '../../../sdk/client.ts';
import { useI18n } from '../i18n/i18n.tsx';
import type { MessageKey } from '../i18n/messages.ts';

type Status = NonNullable<GlanceImage['status']>;

const TONE: Record<Status, 'ok' | 'busy' | 'bad' | 'idle'> = {
  active: 'ok',
  queued: 'idle',
  saving: 'busy',
  uploading: 'busy',
  importing: 'busy',
  killed: 'bad',
  deleted: 'bad',
  pending_delete: 'bad',
  deactivated: 'idle',
};

/** Whether the image is between states (the list keeps polling while one is). */
export const isTransient = (status: string | undefined) =>
  status === 'saving' || status === 'uploading' || status === 'importing' || status === 'pending_delete';

export function StatusBadge({ status }: { status: string | undefined }) {
  const { t } = useI18n();
  const known = status !== undefined && status in TONE;
  const tone = known ? TONE[status as Status] : 'idle';
  return (
    <span className={`badge badge-${tone}`} data-status={status}>
      {known ? t(`status.${status}` as MessageKey) : (status ?? '—')}
    </span>
  );
}

export function MemberBadge({ status }: { status: string }) {
  const { t } = useI18n();
  const tone = status === 'accepted' ? 'ok' : status === 'rejected' ? 'bad' : 'idle';
  const key = `member.${status}` as MessageKey;
  return (
    <span className={`badge badge-${tone}`} data-member-status={status}>
      {['pending', 'accepted', 'rejected'].includes(status) ? t(key) : status}
    </span>
  );
}
