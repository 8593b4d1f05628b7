import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { AuditRepository, ChainProblem, ChainReport } from '../../adapters/db/audit-repository.ts';
import type { BlobStore } from '../../adapters/storage/blob-store.ts';

/** Where exports go in the blob store. */
export const ARCHIVE_PREFIX = 'audit';
const HEAD_KEY = `${ARCHIVE_PREFIX}/head.json`;
const PAGE = 1000;

/** The chain head as last exported: kept in the blob store, apart from the database. */
export interface ArchivedHead {
  seq: number;
  mac: string;
  exportedAt: string;
}

async function readText(store: BlobStore, key: string): Promise<string | null> {
  if (!(await store.stat(key))) return null;
  const chunks: Buffer[] = [];
  for await (const chunk of await store.read(key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function writeText(store: BlobStore, key: string, lines: AsyncIterable<string>): Promise<void> {
  const writer = await store.openWriter(key);
  try {
    await pipeline(Readable.from(lines), writer.stream);
    await writer.commit();
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

export async function archivedHead(store: BlobStore): Promise<ArchivedHead | null> {
  const text = await readText(store, HEAD_KEY);
  return text === null ? null : (JSON.parse(text) as ArchivedHead);
}

/**
 * `ims audit export`: writes the events not yet exported as one JSON Lines
 * object (`audit/events-<first>-<last>.jsonl`, each line an event with its
 * mac), then the head it reached (`audit/head.json`). Returns what it wrote.
 */
export async function exportTrail(
  repo: AuditRepository,
  store: BlobStore,
  now: Date,
): Promise<{ key: string | null; from: number; to: number }> {
  const previous = await archivedHead(store);
  const head = await repo.head();
  const from = (previous?.seq ?? 0) + 1;
  if (head.seq < from) return { key: null, from, to: head.seq };
  const pad = (n: number) => String(n).padStart(12, '0');
  const key = `${ARCHIVE_PREFIX}/events-${pad(from)}-${pad(head.seq)}.jsonl`;
  let lastMac = previous?.mac ?? '';
  async function* lines(): AsyncGenerator<string> {
    for (let next = from; next <= head.seq;) {
      const page = await repo.rangeWithMacs(next, head.seq, PAGE);
      if (page.length === 0) break;
      for (const e of page) {
        lastMac = e.mac;
        yield `${JSON.stringify(e)}\n`;
      }
      next = page[page.length - 1]!.seq + 1;
    }
  }
  await writeText(store, key, lines());
  const exported: ArchivedHead = { seq: head.seq, mac: lastMac, exportedAt: now.toISOString() };
  await writeText(
    store,
    HEAD_KEY,
    (async function* () {
      yield `${JSON.stringify(exported)}\n`;
    })(),
  );
  return { key, from, to: head.seq };
}

/**
 * `ims audit verify`: the chain in the database, and the database against the
 * head last exported (events cut off together with the head row show there).
 */
export async function verifyTrail(repo: AuditRepository, store: BlobStore | null): Promise<ChainReport> {
  const report = await repo.verify();
  const archived = store ? await archivedHead(store) : null;
  if (!archived || !report.ok) return report;
  const problems: ChainProblem[] = [];
  if (archived.seq > report.head.seq) {
    problems.push({
      seq: report.head.seq + 1,
      kind: 'truncated',
      detail: `events up to ${archived.seq} were exported, the database ends at ${report.head.seq}`,
    });
  } else if (archived.seq > 0) {
    const [event] = await repo.rangeWithMacs(archived.seq, archived.seq, 1);
    if (!event || event.mac !== archived.mac)
      problems.push({
        seq: archived.seq,
        kind: 'changed',
        detail: `event ${archived.seq} differs from the exported chain`,
      });
  }
  return problems.length ? { ...report, ok: false, problems } : report;
}
