import type { GlanceImage, ImageListQuery, ImsClient } from '../../../sdk/client.ts';

/** The console's three lists, as on Huawei's console. */
export type TabKey = 'private' | 'shared' | 'public';
export type MemberStatus = 'pending' | 'accepted' | 'rejected';
export type SortKey = 'name' | 'status' | 'size' | 'created_at' | 'disk_format';

export interface ListFilters {
  name: string;
  status: string;
  diskFormat: string;
  tag: string;
}
export const NO_FILTERS: ListFilters = { name: '', status: '', diskFormat: '', tag: '' };

export interface ListRequest {
  tab: TabKey;
  memberStatus: MemberStatus;
  filters: ListFilters;
  sort: { key: SortKey; dir: 'asc' | 'desc' };
  limit: number;
  marker: string | null;
}

export interface ListPage {
  images: GlanceImage[];
  /** Marker of the next page, null on the last page. */
  next: string | null;
}

/**
 * One page of a tab, over Glance's list filters:
 * - private: the images the project owns (whatever their Glance visibility);
 * - shared with me: visibility=shared in one member status, less the project's own
 *   shared images (Glance lists both; the list is filtered here, so a page may hold
 *   fewer rows than asked — IMS's GET /v2/cloudimages?__imagetype=shared will
 *   answer this tab exactly once it exists);
 * - public: visibility=public.
 */
export async function listImages(client: ImsClient, projectId: string, req: ListRequest): Promise<ListPage> {
  const query: ImageListQuery & Record<string, string> = {
    limit: String(req.limit),
    sort: `${req.sort.key}:${req.sort.dir}`,
  };
  if (req.marker) query.marker = req.marker;
  if (req.filters.name.trim()) query.name = req.filters.name.trim();
  if (req.filters.status) query.status = req.filters.status;
  if (req.filters.diskFormat) query.disk_format = req.filters.diskFormat;
  if (req.filters.tag.trim()) query.tag = req.filters.tag.trim();
  switch (req.tab) {
    case 'private':
      query.owner = projectId;
      break;
    case 'shared':
      query.visibility = 'shared';
      query.member_status = req.memberStatus;
      break;
    case 'public':
      query.visibility = 'public';
      break;
  }
  const data = await client.GET('/v2/images', { query });
  const raw = data.images ?? [];
  const images = req.tab === 'shared' ? raw.filter((i) => i.owner !== projectId) : raw;
  const more = typeof (data as { next?: unknown }).next === 'string' && raw.length > 0;
  return { images, next: more ? (raw[raw.length - 1]!.id ?? null) : null };
}

/** The caller's own answer to a shared image (Glance's member PUT). */
export async function answerShare(
  client: ImsClient,
  imageId: string,
  projectId: string,
  status: MemberStatus,
): Promise<void> {
  await client.PUT('/v2/images/{image_id}/members/{member_id}', {
    path: { image_id: imageId, member_id: projectId },
    body: { status },
  });
}

export const DISK_FORMATS = [
  'qcow2',
  'raw',
  'vhd',
  'vhdx',
  'vmdk',
  'vdi',
  'iso',
  'ploop',
  'qed',
  'zvhd',
  'zvhd2',
  'ami',
  'ari',
  'aki',
] as const;
export const CONTAINER_FORMATS = ['bare', 'ovf', 'ova', 'docker', 'compressed', 'ami', 'ari', 'aki'] as const;
export const STATUSES = [
  'queued',
  'saving',
  'active',
  'killed',
  'deactivated',
  'importing',
  'uploading',
  'pending_delete',
] as const;
