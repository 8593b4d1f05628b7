import type { Job } from '../../domain/job.ts';
import type { EntitiesOf, JobHandler, JobKind } from './kind.ts';

/** A handler as the worker calls it: the types were checked when it was registered. */
export interface RegisteredKind {
  kind: JobKind<unknown, unknown>;
  handler: JobHandler<unknown, unknown>;
  entities: EntitiesOf<unknown, unknown> | null;
  /** Undoes what a job's runs left when it was failed because its worker died on every attempt. */
  onAbandoned: ((job: Job) => Promise<void>) | null;
}

/** The job kinds a worker runs, each with its typed handler. */
export class JobRegistry {
  private readonly entries = new Map<string, RegisteredKind>();

  /**
   * Adds the handler of a kind. `entities`, when given, turns the result into
   * the `entities` fields the IMS job shows on success (e.g. `results[]`).
   */
  register<P, R>(
    kind: JobKind<P, R>,
    handler: JobHandler<P, R>,
    options: { entities?: EntitiesOf<P, R>; onAbandoned?: (job: Job) => Promise<void> } = {},
  ): this {
    if (this.entries.has(kind.name)) throw new Error(`job kind ${kind.name} is registered twice`);
    this.entries.set(kind.name, {
      kind,
      // Stored untyped: the worker only hands a handler the payload of its own kind.
      handler: handler as unknown as JobHandler<unknown, unknown>,
      entities: (options.entities as unknown as EntitiesOf<unknown, unknown> | undefined) ?? null,
      onAbandoned: options.onAbandoned ?? null,
    });
    return this;
  }

  get(name: string): RegisteredKind | undefined {
    return this.entries.get(name);
  }

  /** Names of the registered kinds: what a worker claims. */
  kinds(): string[] {
    return [...this.entries.keys()];
  }
}
