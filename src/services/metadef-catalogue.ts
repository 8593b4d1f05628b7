import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { RequestContext } from '../domain/context.ts';
import { DomainError } from '../domain/errors.ts';
import { parseNamespaceCreate } from '../domain/metadefs.ts';
import type { MetadefService } from './metadefs.ts';

export interface CatalogueLoad {
  created: string[];
  /** Namespaces that exist already: an operator may have edited them, so they stay as they are. */
  kept: string[];
}

/**
 * Loads namespace documents (Glance's metadefs JSON, one namespace per file) as the caller,
 * as `glance-manage db load_metadefs` does. Every file is parsed before anything is written,
 * so a broken catalogue changes nothing.
 */
export async function loadMetadefCatalogue(
  metadefs: MetadefService,
  ctx: RequestContext,
  dir: string,
  create: (work: () => Promise<unknown>, namespace: string) => Promise<unknown> = (work) => work(),
): Promise<CatalogueLoad> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
  const documents = [];
  for (const file of files) {
    const where = path.join(dir, file);
    try {
      documents.push(parseNamespaceCreate(JSON.parse(await readFile(where, 'utf8'))));
    } catch (err) {
      throw new Error(`${where}: ${(err as Error).message}`, { cause: err });
    }
  }
  const done: CatalogueLoad = { created: [], kept: [] };
  for (const doc of documents) {
    if (await exists(metadefs, ctx, doc.namespace)) {
      done.kept.push(doc.namespace);
      continue;
    }
    await create(() => metadefs.createNamespace(ctx, doc), doc.namespace);
    done.created.push(doc.namespace);
  }
  return done;
}

async function exists(metadefs: MetadefService, ctx: RequestContext, namespace: string): Promise<boolean> {
  try {
    await metadefs.getNamespace(ctx, namespace);
    return true;
  } catch (err) {
    if (err instanceof DomainError && err.status === 404) return false;
    throw err;
  }
}
