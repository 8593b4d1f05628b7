/**
 * Glance's interoperable import, request side: discovery (`/v2/info/import`,
 * `/v2/info/stores`), staging (`PUT /stage`), starting an import
 * (`POST /import`: glance-direct, web-download, copy-image) and its tasks.
 * The work itself runs as an IMAGE_IMPORT job (jobs/import-handler.ts).
 *
 * Status transitions, as Glance has them: stage queued → uploading; import
 * uploading (glance-direct) or queued (web-download) → importing → active;
 * a failed import returns the image to queued (copy-image leaves it active)
 * and names the failed stores in `os_glance_failed_import`.
 */
import type { DataLeases } from './data-leases.ts';
import type { Readable } from 'node:stream';
import type { Clock } from '../adapters/clock.ts';
import type { Repositories } from '../adapters/db/repositories.ts';
import type { StoreRegistry } from '../adapters/storage/store-registry.ts';
import { checkUrlOffline, WebDownloadError } from '../adapters/web/safe-fetch.ts';
import { AddressPolicy } from '../adapters/web/address-policy.ts';
import type { RequestContext } from '../domain/context.ts';
import { DomainError, fail } from '../domain/errors.ts';
import { expectedFromProperties, type ExpectedHash } from '../domain/expected-hash.ts';
import type { Job } from '../domain/job.ts';
import { assertCanModify } from '../domain/visibility.ts';
import type { ImageService } from './images.ts';
import { IMAGE_IMPORT, IMPORT_METHODS, type ImportMethod, type ImportPayload } from './import-kinds.ts';
import type { IngestedBlob, IngestPipeline } from './ingest.ts';
import type { JobService } from './jobs/service.ts';

export interface ImportSettings {
  convertTo: string | null;
  webDownloadAllow: readonly string[];
}

/** A Glance task (GET /v2/images/{id}/tasks). */
export interface GlanceTask {
  id: string;
  type: 'api_image_import';
  status: 'pending' | 'processing' | 'success' | 'failure';
  owner: string;
  image_id: string;
  user_id: string;
  request_id: string;
  input: Record<string, unknown>;
  result: Record<string, unknown> | null;
  message: string;
  created_at: string;
  updated_at: string;
  expires_at: string | null;
}

const TASK_STATUS = { INIT: 'pending', RUNNING: 'processing', SUCCESS: 'success', FAIL: 'failure' } as const;
const STORE_DESCRIPTIONS: Record<string, string> = { file: 'File store on the service host' };

const badRequest = (msg: string): never => fail('BadRequest', msg);
const conflict = (msg: string): never => fail('Conflict', msg);

interface ParsedImport {
  method: ImportMethod;
  uri?: string;
  stores: string[] | null;
  allStores: boolean;
  allStoresMustSucceed: boolean;
}

/** Checks the import request body as Glance's schema does. */
export function parseImportBody(body: unknown): ParsedImport {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return badRequest('Request body must be a JSON object');
  const b = body as Record<string, unknown>;
  const m = b['method'];
  if (typeof m !== 'object' || m === null || Array.isArray(m))
    return badRequest("'method' must be an object with a 'name'");
  const name = (m as Record<string, unknown>)['name'];
  if (typeof name !== 'string' || !(IMPORT_METHODS as readonly string[]).includes(name)) {
    return badRequest(
      `Import method ${JSON.stringify(name)} is not supported; use one of ${IMPORT_METHODS.join(', ')}`,
    );
  }
  const out: ParsedImport = {
    method: name as ImportMethod,
    stores: null,
    allStores: false,
    allStoresMustSucceed: true,
  };
  if (name === 'web-download') {
    const uri = (m as Record<string, unknown>)['uri'];
    if (typeof uri !== 'string' || uri.length === 0 || uri.length > 4096)
      return badRequest("web-download needs 'method.uri', a URL");
    out.uri = uri;
  }
  if (b['stores'] !== undefined) {
    const s = b['stores'];
    if (!Array.isArray(s) || s.length === 0 || s.some((x) => typeof x !== 'string')) {
      return badRequest("'stores' must be a non-empty list of store names");
    }
    out.stores = [...new Set(s as string[])];
  }
  for (const key of ['all_stores', 'all_stores_must_succeed'] as const) {
    const v = b[key];
    if (v !== undefined && typeof v !== 'boolean') return badRequest(`'${key}' must be a boolean`);
  }
  out.allStores = b['all_stores'] === true;
  out.allStoresMustSucceed = b['all_stores_must_succeed'] !== false;
  if (out.allStores && out.stores) return badRequest("Give either 'stores' or 'all_stores', not both");
  return out;
}

export class ImageImportService {
  constructor(
    private readonly db: Repositories,
    private readonly images: ImageService,
    private readonly stores: StoreRegistry,
    private readonly ingest: IngestPipeline,
    private readonly jobs: JobService,
    private readonly clock: Clock,
    private readonly settings: ImportSettings,
    private readonly leases: DataLeases,
  ) {}

  private now(): string {
    return this.clock.now().toISOString();
  }

  /** GET /v2/info/import. */
  importInfo(): { methods: string[]; conversionFormat: string | null } {
    return { methods: [...IMPORT_METHODS], conversionFormat: this.settings.convertTo };
  }

  /** GET /v2/info/stores. */
  storesInfo(): Array<{ id: string; description: string; default?: true }> {
    return this.stores.entries().map(([name, store]) => ({
      id: name,
      description: STORE_DESCRIPTIONS[store.kind] ?? `${store.kind} store`,
      ...(name === this.stores.defaultName ? { default: true as const } : {}),
    }));
  }

  /**
   * PUT /v2/images/{id}/stage: the data goes through the same checks as an upload into
   * the default store and waits there for a glance-direct import; the image is `uploading`.
   */
  async stage(
    ctx: RequestContext,
    id: string,
    body: Readable,
    declaredLength: number | null,
    expected: readonly ExpectedHash[],
  ): Promise<void> {
    this.images.policy.authorize(ctx, 'ims:images:upload');
    const image = await this.images.get(ctx, id);
    assertCanModify(ctx, image);
    if (image.status !== 'queued') {
      conflict(`Image ${id} is in status ${image.status}; only a queued image can be staged`);
    }
    if (!image.diskFormat || !image.containerFormat) {
      fail('ValidationFailed', 'Properties disk_format, container_format must be set prior to staging data.');
    }
    const allExpected = [...expectedFromProperties(image.properties), ...expected];
    const lease = await this.leases.begin(id, ['queued'], 'uploading');
    if (!lease) return conflict(`Image ${id} is already receiving data`);
    let blob: IngestedBlob | null = null;
    try {
      blob = await this.ingest.ingest({
        source: body,
        declaredFormat: image.diskFormat!,
        declaredLength,
        expected: allExpected,
      });
      const staged = blob;
      await this.db.transaction(async (tx) => {
        await tx.blobs.insert(this.ingest.blobRow(staged, this.now()));
        await tx.imports.stage(id, staged.blobId, this.now());
        // Deleted meanwhile: the rows roll back and the bytes go below.
        if (!(await tx.images.setServiceProperties(id, {}, this.now()))) {
          throw new DomainError('Conflict', `Image ${id} was deleted during staging`);
        }
      });
    } catch (err) {
      if (blob) await this.ingest.discard(blob).catch(() => {});
      await this.db.images.transition(id, ['uploading'], 'queued', this.now());
      throw err;
    } finally {
      await lease.end();
    }
  }

  /**
   * POST /v2/images/{id}/import: checks the request and queues the task; 202 follows.
   * Null when there is nothing to do (copy-image to all stores, and every store has it).
   */
  async startImport(
    ctx: RequestContext,
    id: string,
    body: unknown,
    expected: readonly ExpectedHash[],
  ): Promise<Job | null> {
    this.images.policy.authorize(ctx, 'ims:images:upload');
    const req = parseImportBody(body);
    const image = await this.images.get(ctx, id);
    assertCanModify(ctx, image);
    if (!image.diskFormat || !image.containerFormat) {
      conflict(`Image ${id} needs disk_format and container_format set before import`);
    }
    const names = req.allStores ? this.stores.names() : (req.stores ?? [this.stores.defaultName]);
    for (const s of names) if (!this.stores.has(s)) badRequest(`Unknown store ${JSON.stringify(s)}`);
    let targets = names;
    let from: 'queued' | 'uploading' | 'active';
    switch (req.method) {
      case 'glance-direct':
        if (image.status !== 'uploading' || !(await this.db.imports.staged(id))) {
          conflict(`Image ${id} has no staged data (status ${image.status}); stage it first`);
        }
        from = 'uploading';
        break;
      case 'web-download':
        if (image.status !== 'queued')
          conflict(`Image ${id} is in status ${image.status}; web-download needs a queued image`);
        this.checkWebTarget(req.uri!);
        from = 'queued';
        break;
      case 'copy-image': {
        if (image.status !== 'active')
          conflict(`Image ${id} is in status ${image.status}; only an active image can be copied`);
        if (image.properties['os_glance_importing_to_stores'])
          conflict(`Image ${id} is already being copied`);
        // As Glance: all_stores means the stores that lack the image (none left: nothing
        // to do, still a 202); a store named outright that has it is a bad request.
        targets = names.filter((s) => !image.stores.includes(s));
        const present = names.filter((s) => image.stores.includes(s));
        if (!req.allStores && present.length > 0)
          badRequest(`Image ${id} is already present at store ${JSON.stringify(present[0])}`);
        from = 'active';
        break;
      }
    }
    if (targets.length === 0) {
      // Glance just returns here; IMS also says "copying to no store, none failed", which is
      // what clients (tempest's wait_for_image_copied_to_stores) wait for after a copy.
      await this.db.images.setServiceProperties(
        id,
        { os_glance_importing_to_stores: '', os_glance_failed_import: '' },
        this.now(),
      );
      return null;
    }
    const payload: ImportPayload = {
      imageId: id,
      method: req.method,
      ...(req.uri ? { uri: req.uri } : {}),
      stores: targets,
      allStoresMustSucceed: req.allStoresMustSucceed,
      expected: [...expected],
      userId: ctx.userId,
      requestId: ctx.requestId,
    };
    const job = await this.db.transaction(async (tx) => {
      const now = this.now();
      if (from !== 'active' && !(await tx.images.transition(id, [from], 'importing', now))) {
        conflict(`Image ${id} changed status; try the import again`);
      }
      const queued = await this.jobs.enqueue(ctx, IMAGE_IMPORT, payload, {
        tx,
        entities: { image_id: id, image_name: image.name ?? '' },
      });
      await tx.imports.addTask(id, queued.id, now);
      const ok = await tx.images.setServiceProperties(
        id,
        {
          os_glance_import_task: queued.id,
          os_glance_importing_to_stores: targets.join(','),
          os_glance_failed_import: '',
        },
        now,
      );
      if (!ok) conflict(`Image ${id} was deleted`);
      return queued;
    });
    this.jobs.wake();
    return job;
  }

  /** Host names are judged by the job, after resolving them (see checkUrlOffline). */
  private checkWebTarget(uri: string): void {
    try {
      checkUrlOffline(uri, new AddressPolicy(this.settings.webDownloadAllow));
    } catch (err) {
      if (err instanceof WebDownloadError) badRequest(`URI for web-download is not allowed: ${err.message}`);
      throw err;
    }
  }

  /**
   * Returns images left `uploading` without staged data (the process died mid-stage) to
   * `queued`. Only safe where no other process can be staging them.
   */
  async recoverInterruptedStaging(): Promise<number> {
    let n = 0;
    for (const id of await this.db.images.idsInStatus('uploading')) {
      if (await this.db.imports.staged(id)) continue;
      if (await this.db.images.transition(id, ['uploading'], 'queued', this.now())) n++;
    }
    return n;
  }

  /** GET /v2/images/{id}/tasks: the image's import tasks, newest first. */
  async tasks(ctx: RequestContext, id: string): Promise<GlanceTask[]> {
    this.images.policy.authorize(ctx, 'ims:images:get');
    const image = await this.images.get(ctx, id);
    const out: GlanceTask[] = [];
    for (const jobId of await this.db.imports.taskIds(id)) {
      const job = await this.db.jobs.find(jobId);
      if (job) out.push(toGlanceTask(job, image.id));
    }
    return out;
  }
}

const glanceTaskTime = (iso: string) => `${iso.slice(0, 19)}.000000`;

export function toGlanceTask(job: Job, imageId: string): GlanceTask {
  const p = job.payload as ImportPayload;
  return {
    id: job.id,
    type: 'api_image_import',
    status: TASK_STATUS[job.status],
    owner: job.projectId,
    image_id: imageId,
    user_id: p.userId,
    request_id: p.requestId,
    input: {
      image_id: imageId,
      import_req: {
        method: { name: p.method, ...(p.uri ? { uri: p.uri } : {}) },
        stores: p.stores,
        all_stores_must_succeed: p.allStoresMustSucceed,
      },
      backend: p.stores,
    },
    result: job.status === 'SUCCESS' ? { image_id: imageId, ...(job.result as object) } : null,
    message: job.failReason ?? '',
    created_at: glanceTaskTime(job.createdAt),
    updated_at: glanceTaskTime(job.updatedAt),
    expires_at: null,
  };
}
