import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FileObjectStream } from '../../src/adapters/storage/file-object-stream.ts';

const MiB = 1024 * 1024;
let dir = '';
let file = '';
let data: Buffer;
const openFds = () => readdirSync('/proc/self/fd').length;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-file-object-stream-'));
  file = path.join(dir, 'object');
  data = randomBytes(7 * MiB + 123);
  await fs.writeFile(file, data);
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const streamOf = async (start = 0, end = data.length) =>
  new FileObjectStream(await fs.open(file, 'r'), start, end);

/** A writable that copies what it is given (the buffer may be reused once it calls back) and notes whose memory it was. */
function recorder(delayMs = 0) {
  const copies: Buffer[] = [];
  const memories = new Set<ArrayBufferLike>();
  const sink = new Writable({
    write(chunk: Buffer, _e, done) {
      copies.push(Buffer.from(chunk));
      memories.add(chunk.buffer);
      setTimeout(done, delayMs);
    },
  });
  return { sink, copies, memories };
}

describe('FileObjectStream', () => {
  it('piped, hands out the whole file through a few reused buffers and closes the file', async () => {
    const fds = openFds();
    const stream = await streamOf();
    const counted: number[] = [];
    stream.reportBytes((n) => counted.push(n));
    const { sink, copies, memories } = recorder(1);
    const pipedFrom: unknown[] = [];
    sink.on('pipe', (src) => pipedFrom.push(src));
    stream.pipe(sink);
    expect(pipedFrom).toEqual([stream]);
    await finished(sink);
    await finished(stream);
    expect(Buffer.concat(copies).equals(data)).toBe(true);
    // 8 chunks of at most 1 MiB, through at most 3 buffers: none allocated per chunk.
    expect(copies.length).toBe(8);
    expect(memories.size).toBeLessThanOrEqual(3);
    expect(counted.reduce((a, b) => a + b, 0)).toBe(data.length);
    await vi.waitFor(() => expect(openFds()).toBe(fds), { timeout: 5000 });
  });

  for (const [start, end] of [
    [0, 1],
    [5, MiB + 7],
    [3 * MiB, 7 * MiB + 123],
    [10, 10],
  ] as const) {
    it(`piped or iterated, hands out exactly bytes ${start} to ${end}`, async () => {
      const { sink, copies } = recorder();
      const piped = await streamOf(start, end);
      piped.pipe(sink);
      await finished(sink);
      expect(Buffer.concat(copies).equals(data.subarray(start, end))).toBe(true);

      const chunks: Buffer[] = [];
      for await (const c of await streamOf(start, end)) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).equals(data.subarray(start, end))).toBe(true);
    });
  }

  it('iterated, gives every chunk its own memory (the consumer may keep them)', async () => {
    const chunks: Buffer[] = [];
    for await (const c of await streamOf()) chunks.push(c as Buffer);
    expect(new Set(chunks.map((c) => c.buffer)).size).toBe(chunks.length);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
  });

  it('fails, instead of ending short, when the file is shorter than promised', async () => {
    const piped = await streamOf(0, data.length + 10);
    const { sink } = recorder();
    const failed = new Promise<Error>((resolve) => piped.on('error', resolve));
    piped.pipe(sink);
    expect((await failed).message).toMatch(/ended at byte 7340155, before byte 7340165/);

    const iterated = async () => {
      for await (const c of await streamOf(0, data.length + 10)) void c;
    };
    await expect(iterated()).rejects.toThrow(/ended at byte/);
  });

  it('sent by Fastify, a client going away mid-download closes the file and logs no error', async () => {
    const logged: string[] = [];
    const app = Fastify({
      logger: { level: 'warn', stream: { write: (line: string) => logged.push(line) } },
    });
    let served: FileObjectStream | null = null;
    app.get('/', async (_req, reply) => {
      served = await streamOf();
      return reply.header('content-length', data.length).send(served);
    });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const fds = openFds();
    try {
      for (let i = 0; i < 5; i++) {
        await new Promise<void>((resolve, reject) => {
          const req = http.get(url, (res) => res.once('data', () => req.destroy()));
          req.on('error', () => {});
          req.on('close', resolve);
          setTimeout(() => reject(new Error('no data')), 5000);
        });
        await vi.waitFor(() => expect(served?.destroyed).toBe(true), { timeout: 5000 });
      }
      await vi.waitFor(() => expect(openFds()).toBe(fds), { timeout: 5000 });
      expect(logged).toEqual([]);
    } finally {
      await app.close();
    }
  });

  it('stops reading and closes the file when the client goes away mid-download', async () => {
    let served: FileObjectStream | null = null;
    const server = http.createServer(async (_req, res) => {
      served = await streamOf();
      res.writeHead(200, { 'content-length': data.length });
      served.pipe(res);
      res.on('close', () => served!.destroy());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const fds = openFds();
    try {
      const { port } = server.address() as AddressInfo;
      await new Promise<void>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port, path: '/' }, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', () => {});
        req.on('close', resolve);
        setTimeout(() => reject(new Error('no data')), 5000);
      });
      await vi.waitFor(() => expect(served?.destroyed).toBe(true), { timeout: 5000 });
      await vi.waitFor(() => expect(openFds()).toBe(fds), { timeout: 5000 });
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
