import { useCallback, useEffect, useId, useState, type FormEvent } from 'react';
import type { GlanceImage, ImageMember } from '../../../sdk/client.ts';
import { useApi } from '../api/client-context.tsx';
import { formatBytes, formatDate } from '../api/format.ts';
import { listMembers } from '../api/sharing.ts';
import { ErrorMessage } from '../components/ErrorMessage.tsx';
import { MoreMenu } from '../components/MoreMenu.tsx';
import { isTransient, MemberBadge, StatusBadge } from '../components/StatusBadge.tsx';
import { ImageJobs } from '../components/ImageJobs.tsx';
import { CopyDialog } from '../dialogs/CopyDialog.tsx';
import { DeleteDialog } from '../dialogs/DeleteDialog.tsx';
import { EditDialog } from '../dialogs/EditDialog.tsx';
import { ShareDialog } from '../dialogs/ShareDialog.tsx';
import { useI18n } from '../i18n/i18n.tsx';
import type { MessageKey } from '../i18n/messages.ts';
import { Link, navigate } from '../router.tsx';

/** Fields shown in this order; whatever else the image carries is listed under "Other properties". */
const KNOWN = [
  'id',
  'name',
  'status',
  'visibility',
  'owner',
  'disk_format',
  'container_format',
  'size',
  'virtual_size',
  'checksum',
  'os_hash_algo',
  'os_hash_value',
  'min_disk',
  'min_ram',
  'protected',
  'os_hidden',
  'created_at',
  'updated_at',
] as const;
const NOT_PROPERTIES = new Set<string>([
  ...KNOWN,
  'tags',
  'self',
  'file',
  'schema',
  'locations',
  'direct_url',
]);
const MAX_TAGS = 128;

export function ImageDetails({ imageId }: { imageId: string }) {
  const { t, locale } = useI18n();
  const { client, session } = useApi();
  const [image, setImage] = useState<GlanceImage | null>(null);
  const [members, setMembers] = useState<ImageMember[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [tagError, setTagError] = useState<unknown>(null);
  const [tagProblem, setTagProblem] = useState<string | null>(null);
  const [newTag, setNewTag] = useState('');
  const [dialog, setDialog] = useState<'share' | 'copy' | 'edit' | 'delete' | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const tagInput = useId();

  const load = useCallback(async () => {
    try {
      const img = await client.GET('/v2/images/{image_id}', { path: { image_id: imageId } });
      setImage(img);
      setError(null);
      if (img.owner === session.project.id && img.visibility === 'shared') {
        setMembers(await listMembers(client, imageId));
      } else setMembers(null);
    } catch (err) {
      setError(err);
    }
  }, [client, imageId, session.project.id]);
  useEffect(() => {
    void load();
  }, [load]);
  useEffect(() => {
    if (!isTransient(image?.status)) return;
    const timer = setInterval(() => void load(), 2000);
    return () => clearInterval(timer);
  }, [image?.status, load]);

  if (!image) {
    return (
      <section>
        <Link to="">{t('actions.back')}</Link>
        {error ? <ErrorMessage error={error} /> : <p>{t('details.loading')}</p>}
      </section>
    );
  }

  const mine = image.owner === session.project.id;
  const name = image.name || t('unnamed');
  const tags = image.tags ?? [];
  const custom = Object.entries(image as Record<string, unknown>).filter(([k]) => !NOT_PROPERTIES.has(k));

  const addTag = async (e: FormEvent) => {
    e.preventDefault();
    const tag = newTag.trim();
    setTagError(null);
    setTagProblem(null);
    if (!tag) return;
    if ([...tag].length > 255) return setTagProblem(t('details.tagTooLong'));
    if (tags.includes(tag)) return setTagProblem(t('details.tagDuplicate'));
    if (tags.length >= MAX_TAGS) return setTagProblem(t('details.tagLimit'));
    try {
      await client.PUT('/v2/images/{image_id}/tags/{tag}', { path: { image_id: image.id!, tag } });
      setNewTag('');
      await load();
    } catch (err) {
      setTagError(err);
    }
  };
  const removeTag = async (tag: string) => {
    setTagError(null);
    try {
      await client.DELETE('/v2/images/{image_id}/tags/{tag}', { path: { image_id: image.id!, tag } });
      await load();
      document.getElementById(tagInput)?.focus();
    } catch (err) {
      setTagError(err);
    }
  };
  const value = (key: (typeof KNOWN)[number]) => {
    const v = image[key as keyof GlanceImage];
    if (key === 'status') return <StatusBadge status={image.status} />;
    if (key === 'visibility') return t(`visibility.${image.visibility ?? 'private'}` as MessageKey);
    if (key === 'protected' || key === 'os_hidden') return v ? t('yes') : t('no');
    if (key === 'created_at' || key === 'updated_at') return formatDate(v as string, locale);
    if (v === null || v === undefined || v === '') return '—';
    if (key === 'size' || key === 'virtual_size') return `${formatBytes(v as number, locale)} (${String(v)})`;
    return String(v);
  };

  return (
    <section aria-labelledby="details-heading">
      <Link to="">{t('actions.back')}</Link>
      <div className="page-header">
        <h1 id="details-heading">
          <span className="visually-hidden">{t('details.title')}: </span>
          <span className="image-title">{name}</span> <StatusBadge status={image.status} />
        </h1>
        <MoreMenu
          label={t('actions.more')}
          title={t('actions.moreFor', { name })}
          actions={
            mine
              ? [
                  { label: t('actions.share'), onSelect: () => setDialog('share') },
                  { label: t('actions.copy'), onSelect: () => setDialog('copy') },
                  { label: t('actions.edit'), onSelect: () => setDialog('edit') },
                  { label: t('actions.delete'), onSelect: () => setDialog('delete'), danger: true },
                ]
              : [{ label: t('actions.copy'), onSelect: () => setDialog('copy') }]
          }
        />
      </div>
      <div aria-live="polite">{notice && <p className="notice">{notice}</p>}</div>
      <ErrorMessage error={error} />

      <div className="details-grid">
        <section aria-labelledby="props-heading" className="card">
          <h2 id="props-heading">{t('details.properties')}</h2>
          <dl className="props">
            {KNOWN.map((k) => (
              <div key={k} className="prop">
                <dt>{t(`field.${k}` as MessageKey)}</dt>
                <dd className={['id', 'owner', 'checksum', 'os_hash_value'].includes(k) ? 'mono' : undefined}>
                  {value(k)}
                </dd>
              </div>
            ))}
          </dl>
          <h3>{t('details.custom')}</h3>
          {custom.length === 0 ? (
            <p className="muted">{t('details.noCustom')}</p>
          ) : (
            <dl className="props">
              {custom.map(([k, v]) => (
                <div key={k} className="prop">
                  <dt className="mono">{k}</dt>
                  <dd>{typeof v === 'string' ? v : JSON.stringify(v)}</dd>
                </div>
              ))}
            </dl>
          )}
        </section>

        <section aria-labelledby="tags-heading" className="card">
          <h2 id="tags-heading">{t('details.tags')}</h2>
          {tags.length === 0 ? (
            <p className="muted">{t('details.noTags')}</p>
          ) : (
            <ul className="tag-list" aria-labelledby="tags-heading">
              {tags.map((tag) => (
                <li key={tag} className="tag">
                  <span>{tag}</span>
                  {mine && (
                    <button
                      type="button"
                      className="tag-remove"
                      aria-label={t('details.removeTag', { tag })}
                      onClick={() => void removeTag(tag)}
                    >
                      ×
                    </button>
                  )}
                </li>
              ))}
            </ul>
          )}
          {mine && (
            <form className="inline-form" onSubmit={(e) => void addTag(e)} noValidate>
              <label htmlFor={tagInput}>{t('details.addTag')}</label>
              <input
                id={tagInput}
                value={newTag}
                onChange={(e) => setNewTag(e.target.value)}
                aria-invalid={tagProblem ? true : undefined}
              />
              <button type="submit" className="button">
                {t('details.addTagButton')}
              </button>
            </form>
          )}
          {tagProblem && (
            <p className="problem" role="alert">
              {tagProblem}
            </p>
          )}
          <ErrorMessage error={tagError} />
        </section>

        <section aria-labelledby="members-heading" className="card">
          <h2 id="members-heading">{t('details.members')}</h2>
          {!mine ? (
            <p className="muted">{t('details.membersOwnerOnly')}</p>
          ) : !members || members.length === 0 ? (
            <p className="muted">{t('details.noMembers')}</p>
          ) : (
            <table className="members">
              <thead>
                <tr>
                  <th scope="col">{t('details.memberProject')}</th>
                  <th scope="col">{t('details.memberStatus')}</th>
                  <th scope="col">{t('details.memberSince')}</th>
                </tr>
              </thead>
              <tbody>
                {members.map((m) => (
                  <tr key={m.member_id}>
                    <td className="mono">{m.member_id}</td>
                    <td>
                      <MemberBadge status={m.status ?? 'pending'} />
                    </td>
                    <td>{formatDate(m.created_at, locale)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {mine && (
            <button type="button" className="button" onClick={() => setDialog('share')}>
              {t('actions.share')}
            </button>
          )}
        </section>

        <ImageJobs imageId={image.id!} />
      </div>
      {dialog === 'copy' && (
        <CopyDialog
          image={image}
          onClose={(c) => {
            setDialog(null);
            if (c) setNotice(c);
          }}
        />
      )}
      {dialog === 'share' && (
        <ShareDialog
          image={image}
          onClose={(c) => {
            setDialog(null);
            if (c) setNotice(c);
            void load();
          }}
        />
      )}
      {dialog === 'edit' && (
        <EditDialog
          image={image}
          onClose={(c) => {
            setDialog(null);
            if (c) setNotice(c);
            void load();
          }}
        />
      )}
      {dialog === 'delete' && (
        <DeleteDialog
          image={image}
          onClose={(c) => {
            setDialog(null);
            if (c) navigate('');
          }}
        />
      )}
    </section>
  );
}
