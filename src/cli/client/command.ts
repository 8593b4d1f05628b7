import type { CommandContext } from './context.ts';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** Shown in --help, e.g. `NAME`. */
  value?: string;
  description: string;
}

export interface PositionalSpec {
  name: string;
  description: string;
  optional?: boolean;
  /** Takes the remaining arguments (one or more, or zero or more when optional). */
  variadic?: boolean;
}

export type OptionValues = Record<string, string | boolean | string[] | undefined>;

export interface ParsedArgs {
  options: OptionValues;
  /** Positionals by name; a variadic one is an array. */
  args: Record<string, string | string[] | undefined>;
}

/** One client command, e.g. `image list`. Each lives in its own module under src/cli/commands/. */
export interface CommandSpec {
  /** Words after `ims`, e.g. `image tag add`. */
  name: string;
  summary: string;
  description?: string;
  options?: Record<string, OptionSpec>;
  positionals?: PositionalSpec[];
  examples?: string[];
  /** Returns the exit code (0 when nothing is returned). */
  run(ctx: CommandContext, args: ParsedArgs): Promise<number | void>;
}

/** Summaries of the command groups shown by `ims --help` and `ims GROUP --help`. */
export interface GroupSpec {
  name: string;
  summary: string;
}

/** String option helper: the value, or undefined. */
export function str(options: OptionValues, name: string): string | undefined {
  const v = options[name];
  return typeof v === 'string' ? v : undefined;
}

/** Repeatable string option helper. */
export function list(options: OptionValues, name: string): string[] {
  const v = options[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}

export function one(args: ParsedArgs, name: string): string {
  return args.args[name] as string;
}

export function many(args: ParsedArgs, name: string): string[] {
  const v = args.args[name];
  return Array.isArray(v) ? v : v === undefined ? [] : [v];
}
