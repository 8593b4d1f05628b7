import { fail } from './errors.ts';

/**
 * Glance's property protections (`property-protections-roles.conf`): who may create, read,
 * update and delete which custom image properties, by role. The file is INI: each section
 * is a regular expression over property names, searched (not anchored: write `^` and `$`),
 * and the first section that matches a name decides for it. Each operation lists roles
 * separated by commas; `@` means everyone and `!` no one. As in Glance, a name that no
 * section matches, and an operation a matching section leaves out, are refused — an
 * operator writes a final `[.*]` section to open the rest. Base attributes (name,
 * visibility, …) are not properties and are never governed here.
 *
 * Glance's other rule format, which names policy rules instead of roles, is not offered:
 * IMS's policy table (IMS_POLICY_FILE) has no per-property rules to name.
 */
export const PROPERTY_OPERATIONS = ['create', 'read', 'update', 'delete'] as const;
export type PropertyOperation = (typeof PROPERTY_OPERATIONS)[number];

interface Section {
  source: string;
  line: number;
  ops: Partial<Record<string, string>>;
}

interface Rule {
  pattern: RegExp;
  source: string;
  /** Lower-cased role names per operation; `@` and `!` kept as written. */
  roles: Record<PropertyOperation, string[]>;
}

export class PropertyProtections {
  private constructor(private readonly rules: readonly Rule[] | null) {}

  /** No file configured: every property is open to whoever may change the image. */
  static none(): PropertyProtections {
    return new PropertyProtections(null);
  }

  /** Reads the INI text; any mistake refuses the whole file, with every problem listed. */
  static parse(text: string, file: string): PropertyProtections {
    const problems: string[] = [];
    const rules: Rule[] = [];
    const sections: Section[] = [];
    text.split(/\r?\n/).forEach((raw, index) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
      const header = /^\[(.*)\]$/.exec(line);
      if (header) {
        sections.push({ source: header[1]!, line: index + 1, ops: {} });
        return;
      }
      const option = /^([^=:]+?)\s*[=:]\s*(.*)$/.exec(line);
      const current = sections.at(-1);
      if (!option || !current) {
        problems.push(`line ${index + 1}: expected "[pattern]" or "operation = roles"`);
        return;
      }
      const name = option[1]!.toLowerCase();
      if (!(PROPERTY_OPERATIONS as readonly string[]).includes(name)) {
        problems.push(`line ${index + 1}: unknown operation "${option[1]}" (create, read, update, delete)`);
        return;
      }
      current.ops[name] = option[2]!;
    });
    for (const section of sections) {
      let pattern: RegExp | null = null;
      try {
        pattern = new RegExp(section.source);
      } catch (err) {
        problems.push(
          `line ${section.line}: [${section.source}] is not a regular expression: ${String(err)}`,
        );
      }
      const roles = {} as Record<PropertyOperation, string[]>;
      for (const op of PROPERTY_OPERATIONS) {
        const list = (section.ops[op] ?? '')
          .split(',')
          .map((r) => r.trim().toLowerCase())
          .filter(Boolean);
        if (list.includes('@') && list.includes('!'))
          problems.push(`line ${section.line}: [${section.source}] ${op} names both "@" and "!"`);
        if (list.some((r) => r.startsWith('policy:') || r.startsWith('rule:')))
          problems.push(
            `line ${section.line}: [${section.source}] ${op} names a policy rule; only roles are supported`,
          );
        roles[op] = list;
      }
      if (pattern) rules.push({ pattern, source: section.source, roles });
    }
    if (problems.length) {
      throw new Error(`Property protection file ${file} is invalid:\n  - ${problems.join('\n  - ')}`);
    }
    return new PropertyProtections(rules);
  }

  get enabled(): boolean {
    return this.rules !== null;
  }

  /** Whether a caller holding `roles` may do `op` to the property `name`. */
  allows(roles: readonly string[], name: string, op: PropertyOperation): boolean {
    if (!this.rules) return true;
    const rule = this.rules.find((r) => r.pattern.test(name));
    if (!rule) return false;
    const allowed = rule.roles[op];
    if (allowed.includes('!')) return false;
    if (allowed.includes('@')) return true;
    return roles.some((role) => allowed.includes(role.toLowerCase()));
  }

  /** The properties the caller may read; the others are not shown, as if absent. */
  readable(roles: readonly string[], properties: Record<string, string>): Record<string, string> {
    if (!this.rules) return properties;
    const shown: Record<string, string> = {};
    for (const [name, value] of Object.entries(properties)) {
      if (this.allows(roles, name, 'read')) shown[name] = value;
    }
    return shown;
  }

  /** Refuses a new image carrying a property the caller may not create. */
  assertCreatable(roles: readonly string[], properties: Record<string, string>): void {
    for (const name of Object.keys(properties)) {
      if (!this.allows(roles, name, 'create')) refuse(name);
    }
  }

  /**
   * Checks a change made to what the caller could read (`before` is already the readable
   * part) and returns the properties to store: the change, plus the properties the caller
   * could not see, which stay as they were. Writing to a hidden property counts as creating it.
   */
  changed(
    roles: readonly string[],
    stored: Record<string, string>,
    before: Record<string, string>,
    after: Record<string, string>,
  ): Record<string, string> {
    if (!this.rules) return after;
    for (const [name, value] of Object.entries(after)) {
      if (!(name in before)) {
        if (!this.allows(roles, name, 'create')) refuse(name);
      } else if (before[name] !== value && !this.allows(roles, name, 'update')) refuse(name);
    }
    for (const name of Object.keys(before)) {
      if (!(name in after) && !this.allows(roles, name, 'delete')) refuse(name);
    }
    const kept: Record<string, string> = {};
    for (const [name, value] of Object.entries(stored)) {
      if (!(name in before) && !(name in after)) kept[name] = value;
    }
    return { ...kept, ...after };
  }
}

function refuse(name: string): never {
  return fail('ReservedProperty', `Property '${name}' is protected.`);
}
