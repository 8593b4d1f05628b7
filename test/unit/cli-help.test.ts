import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { COMMANDS, GROUPS } from '../../src/cli/commands/index.ts';
import { runClientCommand } from '../../src/cli/client/dispatch.ts';

async function run(argv: string[]) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await runClientCommand(argv, { stdout, stderr, stdin: Readable.from([]), env: {} });
  return { code, out, err };
}

describe('ims --help on every client command', () => {
  it.each(COMMANDS.map((c) => c.name))('ims %s --help', async (name) => {
    const r = await run([...name.split(' '), '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`^Usage: ims ${name}\\b`));
    expect(r.out).toContain('Global options:');
    expect(await run(['help', ...name.split(' ')])).toEqual(r);
  });

  it.each(GROUPS.map((g) => g.name))('ims %s --help lists its commands', async (group) => {
    const r = await run([group, '--help']);
    expect(r.code).toBe(0);
    for (const c of COMMANDS.filter((c) => c.name.startsWith(`${group} `)))
      expect(r.out).toContain(`ims ${c.name}`);
  });

  it('a group without a command is a usage error; other words are not client commands', async () => {
    const r = await run(['image']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/Usage: ims image COMMAND/);
    expect(await run(['serve'])).toMatchObject({ code: null });
    expect(await run(['--help'])).toMatchObject({ code: null });
  });

  it('global options may come before the command', async () => {
    const r = await run(['--output', 'json', '-p', 'x', 'image', 'show', '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Usage: ims image show/);
  });
});
