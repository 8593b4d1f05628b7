import { CompiledQuery, type Compilable, type Kysely } from 'kysely';

/** A template's parameters: text, or null (which may change the query's shape). */
export type TemplateParams = Record<string, string | null>;

/** Where a compiled parameter comes from: a named parameter, or a value fixed in the query. */
type Slot = { name: string } | { value: unknown };

interface Template {
  sql: string;
  slots: Slot[];
}

const MARK = '\u0001ims-param\u0001';
const standIn = (name: string) => `${MARK}${name}${MARK}`;

/**
 * Hot queries, built and compiled once per shape and then run with each call's parameters.
 * Kysely builds and compiles a query anew on every call; for the lookups every request makes
 * (the token's standing, the image by id) that cost several times what the database takes to
 * answer. Results are never kept: every call runs the query.
 *
 * `build` gets stand-ins for the parameters (null stays null, so a query may take another
 * shape for it) and must pass each stand-in to Kysely as a value, unchanged: a stand-in that
 * ends up in the SQL text or inside another value fails the first call.
 */
export class QueryTemplates {
  readonly #templates = new Map<string, Template>();

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- runs queries of any schema
  constructor(private readonly db: Kysely<any>) {}

  /** The rows of the query `build` makes; `name` identifies the call site. */
  async rows<P extends TemplateParams, R>(
    name: string,
    params: P,
    build: (p: P) => Compilable<R>,
  ): Promise<R[]> {
    const keys = Object.keys(params);
    const shape = `${name}:${keys.map((k) => `${k}=${params[k] === null ? 'null' : 'text'}`).join(',')}`;
    let template = this.#templates.get(shape);
    if (!template) {
      template = compile(name, params, build);
      this.#templates.set(shape, template);
    }
    const parameters = template.slots.map((s) => ('name' in s ? params[s.name] : s.value));
    const result = await this.db.executeQuery(CompiledQuery.raw(template.sql, parameters));
    return result.rows as R[];
  }
}

function compile<P extends TemplateParams, R>(
  name: string,
  params: P,
  build: (p: P) => Compilable<R>,
): Template {
  const stand = Object.fromEntries(
    Object.entries(params).map(([k, v]) => [k, v === null ? null : standIn(k)]),
  ) as P;
  const compiled = build(stand).compile();
  if (compiled.sql.includes(MARK)) throw new Error(`query template ${name}: a parameter is in the SQL text`);
  const byStandIn = new Map(Object.keys(params).map((k) => [standIn(k), k]));
  const slots = compiled.parameters.map((value): Slot => {
    if (typeof value !== 'string' || !value.includes(MARK)) return { value };
    const param = byStandIn.get(value);
    if (param === undefined)
      throw new Error(`query template ${name}: a parameter was changed before binding`);
    return { name: param };
  });
  return { sql: compiled.sql, slots };
}
