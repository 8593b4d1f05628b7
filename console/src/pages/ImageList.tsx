import { useCallback, useEffect, useState, type FormEvent } from 'react';
import type { GlanceImage } from '../../../sdk/client.ts';
import { useApi } from '../api/client-context.tsx';
import { formatBytes, formatDate } from '../api/format.ts';
import {
  answerShare,
  DISK_FORMATS,
  listImages,
  NO_FILTERS,
  STATUSES,
  type ListFilters,
  type ListPage,
  type MemberStatus,
  type SortKey,
  type TabKey,
} from '../api/image-lists.ts';
import { ErrorMessage } from '../components/ErrorMessage.tsx';
import { MoreMenu } from '../components/MoreMenu.tsx';
import { isTransient, MemberBadge, StatusBadge } from '../components/StatusBadge.tsx';
import { Tabs } from '../components/Tabs.tsx';
import { CopyDialog } from '../dialogs/CopyDialog.tsx';
import { DeleteDialog } from '../dialogs/DeleteDialog.tsx';
import { EditDialog } from '../dialogs/EditDialog.tsx';
import { ExportDialog } from '../dialogs/ExportDialog.tsx';
import { ShareDialog } from '../dialogs/ShareDialog.tsx';
import { useI18n } from '../i18n/i18n.tsx';
import type { MessageKey } from '../i18n/messages.ts';
import { Link, navigate } from '../router.tsx';

const TABS: TabKey[] = ['private', 'shared', 'public'];
const MEMBER_STATUSES: MemberStatus[] = ['pending', 'accepted', 'rejected'];
const PAGE_SIZES = [10, 25, 50, 100];

type DialogKind = 'share' | 'copy' | 'export' | 'edit' | 'delete';
type Dialog = { kind: DialogKind; image: GlanceImage } | null;

export function ImageList({ initialTab }: { initialTab: TabKey }) {
  const { t, locale } = useI18n();
  const { client, session } = useApi();
  const [tab, setTab] = useState<TabKey>(initialTab);
  const [memberStatus, setMemberStatus] = useState<MemberStatus>('pending');
  const [draft, setDraft] = useState<ListFilters>(NO_FILTERS);
  const [filters, setFilters] = useState<ListFilters>(NO_FILTERS);
  const [sort, setSort] = useState<{ key: SortKey; dir: 'asc' | 'desc' }>({ key: 'created_at', dir: 'desc' });
  const [limit, setLimit] = useState(25);
  /** Markers of the pages before this one (the first page has none). */
  const [markers, setMarkers] = useState<(string | null)[]>([null]);
  const [page, setPage] = useState<ListPage | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [dialog, setDialog] = useState<Dialog>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const marker = markers[markers.length - 1] ?? null;

  const load = useCallback(
    async (quiet = false) => {
      if (!quiet) setLoading(true);
      try {
        const p = await listImages(client, session.project.id, {
          tab,
          memberStatus,
          filters,
          sort,
          limit,
          marker,
        });
        setPage(p);
        setError(null);
      } catch (err) {
        setError(err);
      } finally {
        setLoading(false);
      }
    },
    [client, session.project.id, tab, memberStatus, filters, sort, limit, marker],
  );

  useEffect(() => {
    void load();
  }, [load]);

  // While an image is between states, the list follows it.
  const busy = page?.images.some((i) => isTransient(i.status)) ?? false;
  useEffect(() => {
    if (!busy) return;
    const timer = setInterval(() => void load(true), 2000);
    return () => clearInterval(timer);
  }, [busy, load]);

  const restart = () => setMarkers([null]);
  const selectTab = (next: TabKey) => {
    setTab(next);
    restart();
    setNotice(null);
    setActionError(null);
    navigate(next === 'private' ? '' : `?tab=${next}`, { replace: true });
  };
  const applyFilters = (e: FormEvent) => {
    e.preventDefault();
    setFilters(draft);
    restart();
  };
  const resetFilters = () => {
    setDraft(NO_FILTERS);
    setFilters(NO_FILTERS);
    restart();
  };
  const sortBy = (key: SortKey) => {
    setSort((s) => ({ key, dir: s.key === key && s.dir === 'asc' ? 'desc' : 'asc' }));
    restart();
  };
  const answer = async (image: GlanceImage, status: MemberStatus) => {
    setActionError(null);
    try {
      await answerShare(client, image.id!, session.project.id, status);
      setNotice(
        t(status === 'accepted' ? 'sharedWithMe.accepted' : 'sharedWithMe.rejected', {
          name: image.name ?? image.id!,
        }),
      );
      await load(true);
    } catch (err) {
      setActionError(err);
    }
  };
  const closeDialog = (changed: string | null) => {
    setDialog(null);
    if (changed) {
      setNotice(changed);
      void load(true);
    }
  };

  const filtered = Object.values(filters).some((v) => v !== '');
  const images = page?.images ?? [];
  const columns: { key: SortKey | null; label: MessageKey }[] = [
    { key: 'name', label: 'col.name' },
    { key: 'status', label: 'col.status' },
    { key: 'disk_format', label: 'col.format' },
    { key: 'size', label: 'col.size' },
    { key: null, label: tab === 'private' ? 'col.visibility' : 'col.owner' },
    { key: null, label: 'col.tags' },
    { key: 'created_at', label: 'col.created' },
  ];

  return (
    <section aria-labelledby="images-heading">
      <div className="page-header">
        <h1 id="images-heading">{t('nav.images')}</h1>
        <div className="page-actions">
          <button type="button" className="button" onClick={() => void load()}>
            {t('list.refresh')}
          </button>
          <Link to="create" className="button button-primary">
            {t('nav.create')}
          </Link>
        </div>
      </div>
      <Tabs
        label={t('tabs.label')}
        idPrefix="images"
        tabs={TABS.map((k) => ({ key: k, label: t(`tabs.${k}`) }))}
        selected={tab}
        onSelect={selectTab}
      />
      <div id="images-panel" role="tabpanel" aria-labelledby={`images-tab-${tab}`} className="panel">
        {tab === 'shared' && (
          <fieldset className="segmented">
            <legend>{t('filters.memberStatus')}</legend>
            {MEMBER_STATUSES.map((s) => (
              <label key={s} className={memberStatus === s ? 'segment selected' : 'segment'}>
                <input
                  type="radio"
                  name="member-status"
                  value={s}
                  checked={memberStatus === s}
                  onChange={() => {
                    setMemberStatus(s);
                    restart();
                  }}
                />
                {t(`member.${s}`)}
              </label>
            ))}
          </fieldset>
        )}
        <form className="filters" onSubmit={applyFilters} aria-label={t('filters.label')}>
          <label>
            {t('filters.name')}
            <input
              value={draft.name}
              onChange={(e) => setDraft({ ...draft, name: e.target.value })}
              name="name"
            />
          </label>
          <label>
            {t('filters.status')}
            <select
              value={draft.status}
              onChange={(e) => setDraft({ ...draft, status: e.target.value })}
              name="status"
            >
              <option value="">{t('filters.any')}</option>
              {STATUSES.map((s) => (
                <option key={s} value={s}>
                  {t(`status.${s}`)}
                </option>
              ))}
            </select>
          </label>
          <label>
            {t('filters.format')}
            <select
              value={draft.diskFormat}
              onChange={(e) => setDraft({ ...draft, diskFormat: e.target.value })}
              name="disk_format"
            >
              <option value="">{t('filters.any')}</option>
              {DISK_FORMATS.map((f) => (
                <option key={f} value={f}>
                  {f}
                </option>
              ))}
            </select>
          </label>
          <label>
            {t('filters.tag')}
            <input
              value={draft.tag}
              onChange={(e) => setDraft({ ...draft, tag: e.target.value })}
              name="tag"
            />
          </label>
          <div className="filter-buttons">
            <button type="submit" className="button">
              {t('filters.apply')}
            </button>
            <button type="button" className="button button-quiet" onClick={resetFilters}>
              {t('filters.reset')}
            </button>
          </div>
        </form>

        <div aria-live="polite" className="live">
          {notice && <p className="notice">{notice}</p>}
        </div>
        <ErrorMessage error={actionError} />
        <ErrorMessage error={error} />

        <div className="table-wrap">
          <table className="images" aria-busy={loading}>
            <caption className="visually-hidden">
              {t('list.caption', { tab: t(`tabs.${tab}`), count: images.length })}
            </caption>
            <thead>
              <tr>
                {columns.map((c) => (
                  <th
                    key={c.label}
                    scope="col"
                    aria-sort={
                      c.key && sort.key === c.key
                        ? sort.dir === 'asc'
                          ? 'ascending'
                          : 'descending'
                        : undefined
                    }
                  >
                    {c.key ? (
                      <button
                        type="button"
                        className="sort"
                        onClick={() => sortBy(c.key!)}
                        title={t('col.sortBy', { column: t(c.label) })}
                      >
                        {t(c.label)}
                        <span aria-hidden="true">
                          {sort.key === c.key ? (sort.dir === 'asc' ? ' ▲' : ' ▼') : ''}
                        </span>
                      </button>
                    ) : (
                      t(c.label)
                    )}
                  </th>
                ))}
                <th scope="col">{t('col.actions')}</th>
              </tr>
            </thead>
            <tbody>
              {images.map((image) => (
                <ImageRow
                  key={image.id}
                  image={image}
                  tab={tab}
                  memberStatus={memberStatus}
                  locale={locale}
                  onDialog={(kind) => setDialog({ kind, image })}
                  onAnswer={(s) => void answer(image, s)}
                />
              ))}
            </tbody>
          </table>
          {!loading && !error && images.length === 0 && (
            <p className="empty">
              {filtered
                ? t('list.emptyFiltered')
                : tab === 'shared'
                  ? t('list.emptyShared')
                  : t('list.empty')}
            </p>
          )}
          {loading && images.length === 0 && <p className="empty">{t('list.loading')}</p>}
        </div>

        <nav className="pager" aria-label={t('list.page', { page: markers.length })}>
          <label>
            {t('list.pageSize')}{' '}
            <select
              value={limit}
              onChange={(e) => {
                setLimit(Number(e.target.value));
                restart();
              }}
            >
              {PAGE_SIZES.map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
          </label>
          <button
            type="button"
            className="button"
            disabled={markers.length <= 1}
            onClick={() => setMarkers((m) => m.slice(0, -1))}
          >
            {t('list.prev')}
          </button>
          <span>{t('list.page', { page: markers.length })}</span>
          <button
            type="button"
            className="button"
            disabled={!page?.next}
            onClick={() => page?.next && setMarkers((m) => [...m, page.next])}
          >
            {t('list.next')}
          </button>
        </nav>
      </div>
      {dialog?.kind === 'share' && <ShareDialog image={dialog.image} onClose={closeDialog} />}
      {dialog?.kind === 'copy' && <CopyDialog image={dialog.image} onClose={closeDialog} />}
      {dialog?.kind === 'export' && <ExportDialog image={dialog.image} onClose={closeDialog} />}
      {dialog?.kind === 'edit' && <EditDialog image={dialog.image} onClose={closeDialog} />}
      {dialog?.kind === 'delete' && <DeleteDialog image={dialog.image} onClose={closeDialog} />}
    </section>
  );
}

function ImageRow({
  image,
  tab,
  memberStatus,
  locale,
  onDialog,
  onAnswer,
}: {
  image: GlanceImage;
  tab: TabKey;
  memberStatus: MemberStatus;
  locale: string;
  onDialog: (kind: DialogKind) => void;
  onAnswer: (status: MemberStatus) => void;
}) {
  const { t } = useI18n();
  const { session } = useApi();
  const name = image.name || t('unnamed');
  const mine = image.owner === session.project.id;
  return (
    <tr data-image-id={image.id}>
      <td data-label={t('col.name')}>
        <div>
          <Link to={`images/${image.id}`} className="image-name">
            {name}
          </Link>
          <div className="muted small mono">{image.id}</div>
        </div>
      </td>
      <td data-label={t('col.status')}>
        <StatusBadge status={image.status} />
        {tab === 'shared' && <MemberBadge status={memberStatus} />}
      </td>
      <td data-label={t('col.format')}>{image.disk_format ?? '—'}</td>
      <td data-label={t('col.size')}>{formatBytes(image.size, locale)}</td>
      <td data-label={tab === 'private' ? t('col.visibility') : t('col.owner')}>
        {tab === 'private' ? (
          t(`visibility.${image.visibility ?? 'private'}`)
        ) : (
          <span className="mono small">{image.owner}</span>
        )}
      </td>
      <td data-label={t('col.tags')}>
        <ul className="tag-list">
          {(image.tags ?? []).map((tag) => (
            <li key={tag} className="tag">
              {tag}
            </li>
          ))}
        </ul>
      </td>
      <td data-label={t('col.created')}>{formatDate(image.created_at, locale)}</td>
      <td data-label={t('col.actions')}>
        <div className="row-actions">
          {tab === 'shared' && memberStatus !== 'accepted' && (
            <button
              type="button"
              className="button button-small button-primary"
              onClick={() => onAnswer('accepted')}
            >
              {t('actions.accept')}
            </button>
          )}
          {tab === 'shared' && memberStatus !== 'rejected' && (
            <button type="button" className="button button-small" onClick={() => onAnswer('rejected')}>
              {t('actions.reject')}
            </button>
          )}
          {mine && (
            <MoreMenu
              label={t('actions.more')}
              title={t('actions.moreFor', { name })}
              actions={[
                { label: t('actions.share'), onSelect: () => onDialog('share') },
                { label: t('actions.copy'), onSelect: () => onDialog('copy') },
                { label: t('actions.export'), onSelect: () => onDialog('export') },
                { label: t('actions.edit'), onSelect: () => onDialog('edit') },
                { label: t('actions.delete'), onSelect: () => onDialog('delete'), danger: true },
              ]}
            />
          )}
          {!mine && (tab === 'public' || (tab === 'shared' && memberStatus === 'accepted')) && (
            <MoreMenu
              label={t('actions.more')}
              title={t('actions.moreFor', { name })}
              actions={[{ label: t('actions.copy'), onSelect: () => onDialog('copy') }]}
            />
          )}
        </div>
      </td>
    </tr>
  );
}
