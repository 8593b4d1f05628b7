import { parseArgs } from 'node:util';
import { ImsApiError } from '../../../sdk/client.ts';
import { COMMANDS, GROUPS } from '../commands/index.ts';
import type { CommandSpec, OptionSpec, ParsedArgs } from './command.ts';
import { CommandContext, type Globals, type IO } from './context.ts';
import { ConfigError, EXIT, ExitError, isConnectionError, UsageError } from './exit-codes.ts';
import { PROGRESS_MODES, type ProgressMode } from './progress.ts';

const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  profile: {
    type: 'string',
    short: 'p',
    value: 'NAME',
    description: 'Profile from the config file (IMS_PROFILE)',
  },
  endpoint: { type: 'string', value: 'URL', description: 'Override the profile endpoint (IMS_ENDPOINT)' },
  output: { type: 'string', short: 'o', value: 'FORMAT', description: 'table (default) or json' },
  progress: {
    type: 'string',
    value: 'MODE',
    description: 'auto (bar on a terminal, lines otherwise), bar, plain, none',
  },
  help: { type: 'boolean', short: 'h', description: 'Show help' },
};

export const EXIT_CODES_HELP = `Exit codes:
  0  success                      4  not signed in / no profile / bad config file
  1  the API answered an error    5  job wait: the job failed
  2  usage error (bad command,    6  job wait: timed out
     option or argument)          130 interrupted
  3  server unreachable`;

function optionLines(options: Record<string, OptionSpec>): string[] {
  const rows = Object.entries(options).map(([name, o]) => [
    `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`,
    `${o.description}${o.multiple ? ' (repeatable)' : ''}`,
  ]);
  const width = Math.max(...rows.map((r) => r[0]!.length));
  return rows.map(([a, b]) => `  ${a!.padEnd(width)}  ${b}`);
}

function usageLine(cmd: CommandSpec): string {
  const pos = (cmd.positionals ?? []).map((p) => {
    const name = p.variadic ? `${p.name}...` : p.name;
    return p.optional ? `[${name}]` : name;
  });
  return `ims ${cmd.name}${cmd.options && Object.keys(cmd.options).length ? ' [options]' : ''} ${pos.join(' ')}`.trimEnd();
}

export function commandHelp(cmd: CommandSpec): string {
  const lines = [`Usage: ${usageLine(cmd)}`, '', cmd.summary];
  if (cmd.description) lines.push('', cmd.description);
  if (cmd.positionals?.length) {
    const w = Math.max(...cmd.positionals.map((p) => p.name.length));
    lines.push('', 'Arguments:', ...cmd.positionals.map((p) => `  ${p.name.padEnd(w)}  ${p.description}`));
  }
  if (cmd.options && Object.keys(cmd.options).length) lines.push('', 'Options:', ...optionLines(cmd.options));
  lines.push('', 'Global options:', ...optionLines(GLOBAL_OPTIONS));
  if (cmd.examples?.length) lines.push('', 'Examples:', ...cmd.examples.map((e) => `  ${e}`));
  return `${lines.join('\n')}\n`;
}

function groupHelp(prefix: string): string {
  const group = GROUPS.find((g) => g.name === prefix);
  const cmds = COMMANDS.filter((c) => c.name.startsWith(`${prefix} `));
  const w = Math.max(...cmds.map((c) => c.name.length));
  return [
    `Usage: ims ${prefix} COMMAND [options]`,
    '',
    group?.summary ?? '',
    '',
    'Commands:',
    ...cmds.map((c) => `  ims ${c.name.padEnd(w)}  ${c.summary}`),
    '',
    `Run \`ims ${prefix} COMMAND --help\` for the options of each.`,
    '',
  ].join('\n');
}

/** The client part of `ims --help`. */
export function clientHelp(): string {
  const w = Math.max(...GROUPS.map((g) => g.name.length));
  return [
    'Client commands (against a running IMS; `ims COMMAND --help` for each):',
    ...GROUPS.map((g) => `  ims ${g.name.padEnd(w)}  ${g.summary}`),
    '',
    'Global options:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    'Profiles live in ~/.config/ims/config.json (IMS_CONFIG elsewhere, mode 0600). The environment',
    'overrides them: IMS_PROFILE, IMS_ENDPOINT, IMS_TOKEN, IMS_ACCESS_KEY + IMS_SECRET_KEY,',
    'IMS_PROJECT_ID; IMS_PASSWORD renews the token of a password profile without a prompt.',
    '',
    EXIT_CODES_HELP,
    '',
  ].join('\n');
}

/** Commands `main` runs itself (they open the database), under a word that client commands share. */
const SERVER_COMMANDS = new Set(['audit verify', 'audit export']);

const isPrefix = (words: string[]) => {
  const text = words.join(' ');
  return COMMANDS.some((c) => c.name === text || c.name.startsWith(`${text} `));
};

/** Splits argv into the command words and the rest (global options may come first). */
function locate(argv: string[]): { words: string[]; rest: string[] } {
  const words: string[] = [];
  const rest: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const t = argv[i]!;
    if (t.startsWith('-')) {
      rest.push(t);
      const name = t.replace(/^--?/, '');
      const spec = Object.entries(GLOBAL_OPTIONS).find(([n, o]) => n === name || o.short === name)?.[1];
      if (spec?.type === 'string' && i + 1 < argv.length) rest.push(argv[++i]!);
      i++;
    } else if (isPrefix([...words, t])) {
      words.push(t);
      i++;
    } else break;
  }
  return { words, rest: [...rest, ...argv.slice(i)] };
}

function parse(cmd: CommandSpec, argv: string[]): { parsed: ParsedArgs; globals: Globals; help: boolean } {
  let values: Record<string, unknown>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: { ...GLOBAL_OPTIONS, ...cmd.options },
      allowPositionals: true,
      strict: true,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional.*$/s, ''));
  }
  const help = values.help === true;
  const output = (values.output as string | undefined) ?? 'table';
  if (output !== 'table' && output !== 'json')
    throw new UsageError(`--output must be table or json, not "${output}"`);
  const progress = (values.progress as string | undefined) ?? 'auto';
  if (!PROGRESS_MODES.includes(progress as ProgressMode))
    throw new UsageError(`--progress must be one of ${PROGRESS_MODES.join(', ')}, not "${progress}"`);

  const args: ParsedArgs['args'] = {};
  const specs = cmd.positionals ?? [];
  let k = 0;
  for (const p of specs) {
    if (p.variadic) {
      args[p.name] = positionals.slice(k);
      k = positionals.length;
      if (!p.optional && (args[p.name] as string[]).length === 0 && !help)
        throw new UsageError(`missing argument ${p.name}`);
    } else {
      if (positionals[k] === undefined && !p.optional && !help)
        throw new UsageError(`missing argument ${p.name}`);
      args[p.name] = positionals[k++];
    }
  }
  if (k < positionals.length && !help) throw new UsageError(`unexpected argument "${positionals[k]}"`);
  const globals: Globals = {
    profile: values.profile as string | undefined,
    endpoint: values.endpoint as string | undefined,
    output,
    progress: progress as ProgressMode,
  };
  return { parsed: { options: values as ParsedArgs['options'], args }, globals, help };
}

/** Prints an error the way scripts and people both read it; returns the exit code. */
function report(err: unknown, io: IO, json: boolean, cmd: CommandSpec | null): number {
  const write = (text: string) => io.stderr.write(`${text}\n`);
  if (err instanceof UsageError) {
    write(`ims: ${err.message}`);
    write(cmd ? `Run \`ims ${cmd.name} --help\` for usage.` : 'Run `ims --help` for usage.');
    return EXIT.usage;
  }
  if (err instanceof ImsApiError) {
    if (json) {
      write(
        JSON.stringify({
          error: { status: err.status, code: err.code, message: err.message, request_id: err.requestId },
        }),
      );
    } else {
      write(`Error: ${err.message}`);
      write(`  (HTTP ${err.status} ${err.code}${err.requestId ? `, request id ${err.requestId}` : ''})`);
    }
    return EXIT.api;
  }
  if (err instanceof ConfigError) {
    write(`ims: ${err.message}`);
    return EXIT.config;
  }
  if (err instanceof ExitError) {
    write(`ims: ${err.message}`);
    return err.code;
  }
  if (isConnectionError(err)) {
    const cause = (err as { cause?: Error }).cause;
    write(`ims: cannot reach the server: ${cause?.message ?? (err as Error).message}`);
    return EXIT.connection;
  }
  throw err;
}

/**
 * Runs a client command (`ims image list ...`). Returns null when argv names none, so that
 * main can try its own commands (serve, worker, migrate, ...).
 */
export async function runClientCommand(argv: string[], io: IO): Promise<number | null> {
  const helpWord = argv[0] === 'help';
  const { words, rest } = locate(helpWord ? argv.slice(1) : argv);
  if (words.length === 0) return null;
  const cmd = COMMANDS.find((c) => c.name === words.join(' '));
  if (!cmd && !helpWord && SERVER_COMMANDS.has(`${words.join(' ')} ${rest[0] ?? ''}`)) return null;
  if (!cmd) {
    const asked = helpWord || rest.includes('--help') || rest.includes('-h');
    const prefix = words.join(' ');
    if (!asked && rest.length) {
      io.stderr.write(`ims: unknown command "${prefix} ${rest[0]}"\n\n${groupHelp(prefix)}`);
      return EXIT.usage;
    }
    (asked ? io.stdout : io.stderr).write(groupHelp(prefix));
    return asked ? EXIT.ok : EXIT.usage;
  }
  if (helpWord) {
    io.stdout.write(commandHelp(cmd));
    return EXIT.ok;
  }
  let json = false;
  try {
    const { parsed, globals, help } = parse(cmd, rest);
    json = globals.output === 'json';
    if (help) {
      io.stdout.write(commandHelp(cmd));
      return EXIT.ok;
    }
    return (await cmd.run(new CommandContext(globals, io), parsed)) ?? EXIT.ok;
  } catch (err) {
    return report(err, io, json, cmd);
  }
}
