import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import type { ImsClient, UploadSession } from '../../../sdk/client.ts';
import { parseSize } from '../../config/config.ts';
import type { CommandContext } from '../client/context.ts';
import { isConnectionError, UsageError } from '../client/exit-codes.ts';
import { meter } from '../client/progress.ts';

/** Files this large go up through an upload session (IMS_UPLOAD_RESUMABLE_THRESHOLD). */
const DEFAULT_THRESHOLD = 64 * 1024 * 1024;
/** Bytes per chunk request (IMS_UPLOAD_CHUNK_SIZE): what a cut costs at most. */
const DEFAULT_CHUNK = 16 * 1024 * 1024;
/** Tries per chunk when the connection breaks, with a growing pause between them. */
const ATTEMPTS = 5;

function sizeSetting(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  const n = parseSize(text);
  if (n === null || n < 1) throw new UsageError(`${name} must be a size such as 64MiB, got "${text}"`);
  return n;
}

/** Whether a file of this size goes through an upload session. */
export function wantsResumable(env: NodeJS.ProcessEnv, size: number): boolean {
  return size >= sizeSetting(env, 'IMS_UPLOAD_RESUMABLE_THRESHOLD', DEFAULT_THRESHOLD);
}

/**
 * The label under which this file's session is found again by a later run: the same path,
 * size and modification time mean the same bytes. Hashed, so the server never sees the path.
 */
function fileRef(file: string, size: number, mtimeMs: number): string {
  const id = createHash('sha256')
    .update(`${path.resolve(file)}\0${size}\0${mtimeMs}`)
    .digest('hex');
  return `ims-cli:${id.slice(0, 40)}`;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Uploads a file in chunks through an upload session, resuming the session a previous
 * run of the same file left (interrupted, killed, cut off), and retrying chunks whose
 * connection broke. Only the missing ranges are sent.
 */
export async function uploadResumable(
  ctx: CommandContext,
  client: ImsClient,
  imageId: string,
  file: string,
  info: { size: number; mtimeMs: number },
): Promise<void> {
  const chunkSize = sizeSetting(ctx.io.env, 'IMS_UPLOAD_CHUNK_SIZE', DEFAULT_CHUNK);
  const ref = fileRef(file, info.size, info.mtimeMs);
  const existing = (await client.listUploadSessions(imageId)).find(
    (s) => s.client_ref === ref && s.size === info.size,
  );
  let session: UploadSession = existing ?? (await client.createUploadSession(imageId, info.size, ref));
  if (existing) {
    ctx.note(
      `resuming upload session ${session.id}: ${session.received_bytes} of ${session.size} bytes already on the server`,
    );
  }
  const progress = ctx.progress({ label: `upload ${imageId}`, total: info.size });
  progress.set(session.received_bytes);
  try {
    for (const hole of session.missing) {
      for (let start = hole.start; start <= hole.end; start += chunkSize) {
        const length = Math.min(chunkSize, hole.end + 1 - start);
        session = await sendChunk(client, imageId, session, file, start, length, progress);
        progress.set(session.received_bytes);
      }
    }
    for (let attempt = 1; ; attempt++) {
      try {
        // A repeated commit answers the same: safe to retry when the answer was lost.
        await client.commitUploadSession(imageId, session.id);
        break;
      } catch (err) {
        if (!isConnectionError(err) || attempt >= ATTEMPTS) throw err;
        await pause(attempt * 500);
      }
    }
  } catch (err) {
    progress.abort();
    throw err;
  }
  progress.finish();
}

async function sendChunk(
  client: ImsClient,
  imageId: string,
  session: UploadSession,
  file: string,
  start: number,
  length: number,
  progress: ReturnType<CommandContext['progress']>,
): Promise<UploadSession> {
  for (let attempt = 1; ; attempt++) {
    const source = createReadStream(file, { start, end: start + length - 1, highWaterMark: 1024 * 1024 });
    const counted = source.pipe(meter(progress));
    source.on('error', (err) => counted.destroy(err));
    try {
      return await client.uploadChunk(imageId, session.id, {
        start,
        length,
        total: session.size,
        data: counted,
      });
    } catch (err) {
      source.destroy();
      if (!isConnectionError(err) || attempt >= ATTEMPTS) throw err;
      await pause(attempt * 500);
      // The chunk may have arrived before the answer was lost: the session says.
      const now = await client.getUploadSession(imageId, session.id).catch(() => session);
      progress.set(now.received_bytes);
      const first = now.received.find((r) => r.start <= start && start + length - 1 <= r.end);
      if (first) return now;
    }
  }
}
