import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { ImsClient } from '../../../sdk/client.ts';
import type { CommandContext } from '../client/context.ts';
import { EXIT, ExitError, isConnectionError, UsageError } from '../client/exit-codes.ts';
import { meter } from '../client/progress.ts';
import { uploadResumable, wantsResumable } from './image-resumable.ts';

/** Chunks read from disk; the request streams them as they come (no whole-file buffer). */
const READ_CHUNK = 1024 * 1024;

/** Streams a file (or stdin for "-") to the image's data, with progress on stderr. */
export async function uploadFile(
  ctx: CommandContext,
  client: ImsClient,
  imageId: string,
  file: string,
): Promise<void> {
  let size: number | undefined;
  let source: Readable;
  if (file === '-') {
    source = ctx.io.stdin;
  } else {
    const info = await stat(file).catch((err: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot read ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
    });
    if (!info.isFile()) throw new UsageError(`${file} is not a regular file`);
    if (wantsResumable(ctx.io.env, info.size)) {
      return uploadResumable(ctx, client, imageId, file, { size: info.size, mtimeMs: info.mtimeMs });
    }
    size = info.size;
    source = createReadStream(file, { highWaterMark: READ_CHUNK });
  }
  const progress = ctx.progress({ label: `upload ${imageId}`, total: size ?? null });
  const counted = source.pipe(meter(progress));
  source.on('error', (err) => counted.destroy(err));
  try {
    await client.uploadImageData(imageId, counted, size === undefined ? {} : { size });
  } catch (err) {
    progress.abort();
    source.destroy();
    throw isConnectionError(err) ? await explainBrokenUpload(client, imageId, err) : err;
  }
  progress.finish();
}

/**
 * A server that refuses an upload before reading it answers and closes; the rest of the
 * body then meets a reset connection, which can swallow the answer. Show what the image
 * looks like now, which usually tells why (wrong status, missing format).
 */
async function explainBrokenUpload(client: ImsClient, imageId: string, err: unknown): Promise<unknown> {
  const cause = (err as { cause?: Error }).cause?.message ?? (err as Error).message;
  const image = await client.GET('/v2/images/{image_id}', { path: { image_id: imageId } }).catch(() => null);
  if (!image) return err;
  return new ExitError(
    `the server closed the connection during the upload (${cause}); image ${imageId} is ${image.status}, ` +
      `disk_format=${image.disk_format ?? 'unset'}, container_format=${image.container_format ?? 'unset'}`,
    EXIT.api,
  );
}

/** Taps the bytes passing through into an MD5 (the image checksum). */
function md5Tap(hash: ReturnType<typeof createHash>): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
}

/**
 * Streams the image's data to a file (written as FILE.part, renamed when complete and its
 * MD5 matches the server's Content-MD5) or to stdout.
 */
export async function downloadTo(
  ctx: CommandContext,
  client: ImsClient,
  imageId: string,
  file: string | undefined,
): Promise<{ bytes: number; checksum: string | null }> {
  const download = await client.downloadImageData(imageId);
  const progress = ctx.progress({ label: `download ${imageId}`, total: download.size });
  const hash = createHash('md5');
  let bytes = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  const source = download.body
    ? Readable.fromWeb(download.body as unknown as WebReadableStream<Uint8Array>)
    : Readable.from([]);
  const partial = file ? `${file}.part` : undefined;
  try {
    const sink = partial ? createWriteStream(partial) : ctx.io.stdout;
    await pipeline(source, meter(progress), md5Tap(hash), count, sink, { end: partial !== undefined });
  } catch (err) {
    progress.abort();
    if (partial) await rm(partial, { force: true });
    throw err;
  }
  const actual = hash.digest('hex');
  if (download.checksum && download.checksum !== actual) {
    progress.abort();
    if (partial) await rm(partial, { force: true });
    throw new ExitError(
      `checksum mismatch: the server said ${download.checksum}, received ${actual}`,
      EXIT.api,
    );
  }
  if (partial) await rename(partial, file!);
  progress.finish();
  return { bytes, checksum: actual };
}
