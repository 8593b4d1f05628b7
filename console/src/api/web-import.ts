import type { ImsClient } from '../../../sdk/client.ts';

/** A web-download import into a queued image (Glance's interoperable import). */
export async function importFromUrl(client: ImsClient, imageId: string, uri: string): Promise<void> {
  await client.POST('/v2/images/{image_id}/import', {
    path: { image_id: imageId },
    body: { method: { name: 'web-download', uri } },
  });
}

export interface ImportTask {
  id: string;
  status: 'pending' | 'processing' | 'success' | 'failure';
  message: string;
  /** The request that started the import. */
  request_id?: string;
}

/** A failed import task, shown like an API error: its message and the request id that started it. */
export class ImportFailed extends Error {
  override readonly name = 'ImportFailed';
  constructor(
    message: string,
    readonly requestId: string | null,
  ) {
    super(message);
  }
}

/** The image's import tasks, newest first; a task's id is its IMS job's. */
export async function importTasks(client: ImsClient, imageId: string): Promise<ImportTask[]> {
  const data = (await client.GET('/v2/images/{image_id}/tasks', {
    path: { image_id: imageId },
  })) as unknown as {
    tasks?: ImportTask[];
  };
  return data.tasks ?? [];
}

/** http(s) URLs only: the server refuses anything else, and says so less kindly. */
export function isWebUrl(text: string): boolean {
  try {
    const url = new URL(text.trim());
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}
