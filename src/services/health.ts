import type { BlobStore } from '../adapters/storage/blob-store.ts';

export interface HealthReport {
  status: 'ok' | 'failing';
  checks: Record<string, { status: 'ok' | 'failing'; error?: string }>;
}

/** Healthy means the database and the blob store both answer. */
export async function checkHealth(
  pingDatabase: () => Promise<void>,
  store: BlobStore,
): Promise<HealthReport> {
  const run = async (probe: () => Promise<void>) => {
    try {
      await probe();
      return { status: 'ok' as const };
    } catch (err) {
      return { status: 'failing' as const, error: err instanceof Error ? err.message : String(err) };
    }
  };
  const [database, storage] = await Promise.all([run(pingDatabase), run(() => store.ping())]);
  const failing = database.status !== 'ok' || storage.status !== 'ok';
  return { status: failing ? 'failing' : 'ok', checks: { database, storage } };
}
