import { useState } from 'react';
import type { GlanceImage } from '../../../sdk/client.ts';
import { useApi } from '../api/client-context.tsx';
import { Dialog } from '../components/Dialog.tsx';
import { ErrorMessage } from '../components/ErrorMessage.tsx';
import { useI18n } from '../i18n/i18n.tsx';

export function DeleteDialog({
  image,
  onClose,
}: {
  image: GlanceImage;
  onClose: (changed: string | null) => void;
}) {
  const { t } = useI18n();
  const { client } = useApi();
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const name = image.name || image.id!;
  const remove = async () => {
    setBusy(true);
    setError(null);
    try {
      await client.DELETE('/v2/images/{image_id}', { path: { image_id: image.id! } });
      onClose(t('delete.done', { name }));
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <Dialog title={t('delete.title', { name })} onClose={() => onClose(null)}>
      <p>{image.protected ? t('delete.protected') : t('delete.body')}</p>
      <p className="mono small">{image.id}</p>
      <ErrorMessage error={error} />
      <div className="dialog-actions">
        <button type="button" className="button button-quiet" onClick={() => onClose(null)}>
          {t('actions.cancel')}
        </button>
        <button
          type="button"
          className="button button-danger"
          disabled={busy || Boolean(image.protected)}
          onClick={() => void remove()}
        >
          {t('delete.confirm')}
        </button>
      </div>
    </Dialog>
  );
}
