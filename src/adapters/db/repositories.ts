import type { Kysely } from 'kysely';
import { auditedTransaction } from '../audit-scope.ts';
import type { Database } from './schema.ts';
import type { AuditRepository } from './audit-repository.ts';
import type { AuditEvent, NewAuditEvent } from '../../domain/audit.ts';
import { BlobRepository } from './blob-repository.ts';
import { BucketGrantRepository } from './bucket-grant-repository.ts';
import { DataLeaseRepository } from './data-lease-repository.ts';
import { UserUploadRepository } from './user-upload-repository.ts';
import { IdentityRepository } from './identity-repository.ts';
import { ImportRepository } from './import-repository.ts';
import { ImageRepository } from './image-repository.ts';
import { JobRepository } from './job-repository.ts';
import { MemberRepository } from './member-repository.ts';
import { QuotaRepository } from './quota-repository.ts';
import { SharingRepository } from './sharing-repository.ts';
import { TagRepository } from './tag-repository.ts';
import { UploadSessionRepository } from './upload-session-repository.ts';

/** Every repository over one connection or one transaction. */
export class Repositories {
  readonly images: ImageRepository;
  readonly blobs: BlobRepository;
  readonly identity: IdentityRepository;
  readonly jobs: JobRepository;
  readonly members: MemberRepository;
  readonly imports: ImportRepository;
  readonly tags: TagRepository;
  readonly quotas: QuotaRepository;
  readonly buckets: BucketGrantRepository;
  readonly userUploads: UserUploadRepository;
  readonly uploadSessions: UploadSessionRepository;
  readonly dataLeases: DataLeaseRepository;
  readonly sharing: SharingRepository;

  constructor(private readonly db: Kysely<Database>) {
    this.images = new ImageRepository(db);
    this.blobs = new BlobRepository(db);
    this.identity = new IdentityRepository(db);
    this.jobs = new JobRepository(db);
    this.members = new MemberRepository(db);
    this.imports = new ImportRepository(db);
    this.tags = new TagRepository(db);
    this.quotas = new QuotaRepository(db);
    this.buckets = new BucketGrantRepository(db);
    this.userUploads = new UserUploadRepository(db);
    this.uploadSessions = new UploadSessionRepository(db);
    this.dataLeases = new DataLeaseRepository(db);
    this.sharing = new SharingRepository(db);
  }

  /**
   * Appends an event to the audit chain on this connection: called on the
   * repositories of transaction(), the event commits or rolls back with the
   * change it records (an event nobody's request carries, e.g. a job's).
   */
  appendAudit(trail: AuditRepository, event: NewAuditEvent): Promise<AuditEvent> {
    return trail.append(event, this.db);
  }

  /**
   * Runs the work in one transaction; repositories passed in see only its
   * writes. The audit event of the request being served commits with it.
   */
  transaction<T>(work: (repos: Repositories) => Promise<T>): Promise<T> {
    return auditedTransaction(this.db, (trx) => work(new Repositories(trx)));
  }
}
