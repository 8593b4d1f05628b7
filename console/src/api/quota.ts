import type { ImsClient } from '../../../sdk/client.ts';

/** One line of ShowImageQuota: images counted, or total size in MiB; quota -1 is no limit. */
export interface QuotaResource {
  type: 'image' | 'image_size_total' | string;
  used: number;
  quota: number;
}

export async function projectQuota(client: ImsClient): Promise<QuotaResource[]> {
  const data = (await client.GET('/v1/cloudimages/quota')) as unknown as {
    quotas?: { resources?: QuotaResource[] };
  };
  // The console shows what an upload needs: the image count and the total size.
  return (data.quotas?.resources ?? []).filter((r) => r.type === 'image' || r.type === 'image_size_total');
}

/** Whether one more image of this many bytes would pass the quota (as far as the browser can tell). */
export function quotaRoom(resources: QuotaResource[], bytes: number): { images: boolean; size: boolean } {
  const image = resources.find((r) => r.type === 'image');
  const size = resources.find((r) => r.type === 'image_size_total');
  return {
    images: !image || image.quota < 0 || image.used + 1 <= image.quota,
    size: !size || size.quota < 0 || size.used + Math.ceil(bytes / 1048576) <= size.quota,
  };
}
