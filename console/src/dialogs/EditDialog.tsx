import { useId, useState, type FormEvent } from 'react';
import type { GlanceImage } from '../../../sdk/client.ts';
import { useApi } from '../api/client-context.tsx';
import { PATCH_TYPE } from '../api/sharing.ts';
import { Dialog } from '../components/Dialog.tsx';
import { ErrorMessage } from '../components/ErrorMessage.tsx';
import { useI18n } from '../i18n/i18n.tsx';

type Op = { op: 'replace'; path: string; value: unknown };

/** Name, visibility, protection and boot minimums, sent as one JSON patch of what changed. */
export function EditDialog({
  image,
  onClose,
}: {
  image: GlanceImage;
  onClose: (changed: string | null) => void;
}) {
  const { t } = useI18n();
  const { client } = useApi();
  const [name, setName] = useState(image.name ?? '');
  const [visibility, setVisibility] = useState(image.visibility ?? 'shared');
  const [isProtected, setProtected] = useState(Boolean(image.protected));
  const [minDisk, setMinDisk] = useState(String(image.min_disk ?? 0));
  const [minRam, setMinRam] = useState(String(image.min_ram ?? 0));
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [info, setInfo] = useState<string | null>(null);
  const id = useId();

  const save = async (e: FormEvent) => {
    e.preventDefault();
    const ops: Op[] = [];
    if (name !== (image.name ?? '')) ops.push({ op: 'replace', path: '/name', value: name });
    if (visibility !== image.visibility) ops.push({ op: 'replace', path: '/visibility', value: visibility });
    if (isProtected !== Boolean(image.protected))
      ops.push({ op: 'replace', path: '/protected', value: isProtected });
    // Numbers the browser cannot read are sent as typed: the server's refusal is the message.
    const num = (s: string) => (/^\d+$/.test(s.trim()) ? Number(s) : s);
    if (minDisk !== String(image.min_disk ?? 0))
      ops.push({ op: 'replace', path: '/min_disk', value: num(minDisk) });
    if (minRam !== String(image.min_ram ?? 0))
      ops.push({ op: 'replace', path: '/min_ram', value: num(minRam) });
    if (ops.length === 0) return setInfo(t('edit.nothing'));
    setBusy(true);
    setError(null);
    try {
      await client.PATCH('/v2/images/{image_id}', {
        path: { image_id: image.id! },
        body: ops,
        contentType: PATCH_TYPE,
      });
      onClose(t('edit.saved'));
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <Dialog title={t('edit.title', { name: image.name || image.id! })} onClose={() => onClose(null)}>
      <form onSubmit={(e) => void save(e)} className="form" noValidate>
        <label htmlFor={`${id}-name`}>{t('field.name')}</label>
        <input id={`${id}-name`} value={name} maxLength={255} onChange={(e) => setName(e.target.value)} />
        <label htmlFor={`${id}-vis`}>{t('field.visibility')}</label>
        <select
          id={`${id}-vis`}
          value={visibility}
          onChange={(e) => setVisibility(e.target.value as typeof visibility)}
        >
          {(['private', 'shared', 'public', 'community'] as const).map((v) => (
            <option key={v} value={v}>
              {t(`visibility.${v}`)}
            </option>
          ))}
        </select>
        <label htmlFor={`${id}-disk`}>{t('field.min_disk')}</label>
        <input
          id={`${id}-disk`}
          inputMode="numeric"
          value={minDisk}
          onChange={(e) => setMinDisk(e.target.value)}
        />
        <label htmlFor={`${id}-ram`}>{t('field.min_ram')}</label>
        <input
          id={`${id}-ram`}
          inputMode="numeric"
          value={minRam}
          onChange={(e) => setMinRam(e.target.value)}
        />
        <label className="checkbox">
          <input type="checkbox" checked={isProtected} onChange={(e) => setProtected(e.target.checked)} />
          {t('field.protected')}
        </label>
        <div aria-live="polite">{info && <p className="notice">{info}</p>}</div>
        <ErrorMessage error={error} />
        <div className="dialog-actions">
          <button type="button" className="button button-quiet" onClick={() => onClose(null)}>
            {t('actions.cancel')}
          </button>
          <button type="submit" className="button button-primary" disabled={busy}>
            {t('actions.save')}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
