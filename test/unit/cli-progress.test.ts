import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Progress } from '../../src/cli/client/progress.ts';
import { hasTerminalControl } from '../helpers/cli.ts';

function sink(isTTY: boolean) {
  const stream = new PassThrough() as PassThrough & { isTTY?: boolean; columns?: number };
  stream.isTTY = isTTY;
  stream.columns = 100;
  let text = '';
  stream.on('data', (c: Buffer) => (text += c.toString()));
  return { stream, text: () => text };
}

const MiB = 1024 * 1024;

describe('progress output', () => {
  it('plain mode (not a terminal): whole lines at most once per interval, no control characters', () => {
    let now = 0;
    const out = sink(false);
    const p = new Progress({
      stream: out.stream,
      label: 'upload x',
      total: 10 * MiB,
      intervalMs: 5000,
      now: () => now,
    });
    for (let i = 0; i < 10; i++) {
      now += 1000;
      p.add(MiB);
    }
    p.finish();
    const lines = out.text().split('\n');
    expect(hasTerminalControl(out.text())).toBe(false);
    expect(lines).toEqual([
      'upload x: 10.0%, 1.00 MiB / 10.0 MiB, 1.00 MiB/s, ETA 00:09',
      'upload x: 60.0%, 6.00 MiB / 10.0 MiB, 1.00 MiB/s, ETA 00:04',
      'upload x: 10.0 MiB in 10.0 s (1.00 MiB/s)',
      '',
    ]);
  });

  it('bar mode (a terminal): redrawn in place with bytes, rate and ETA, then a newline', () => {
    let now = 0;
    const out = sink(true);
    const p = new Progress({ stream: out.stream, label: 'download y', total: 4 * MiB, now: () => now });
    now += 1000;
    p.add(MiB);
    now += 1000;
    p.add(MiB);
    p.finish();
    const frames = out.text().split('\r').filter(Boolean);
    expect(frames[0]).toBe(
      'download y [########----------------------] 25.0%  1.00 MiB / 4.00 MiB  1.00 MiB/s  ETA 00:03\u001b[K',
    );
    expect(frames.at(-1)).toMatch(
      /^download y \[#{15}-{15}\] 50\.0%.*\n.*2\.00 MiB in 2\.0 s \(1\.00 MiB\/s\)\n$/s,
    );
  });

  it('unknown size: bytes and rate, no percentage or ETA; none mode prints nothing', () => {
    let now = 0;
    const out = sink(false);
    const p = new Progress({ stream: out.stream, label: 'stdin', total: null, now: () => now });
    now += 2000;
    p.add(3 * MiB);
    expect(out.text()).toBe('stdin: 3.00 MiB, 1.50 MiB/s\n');
    const silent = sink(true);
    const q = new Progress({ stream: silent.stream, label: 'x', total: 10, mode: 'none' });
    q.add(5);
    q.finish();
    expect(silent.text()).toBe('');
  });
});
