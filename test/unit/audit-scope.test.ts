import { describe, expect, it } from 'vitest';
import {
  AuditScope,
  currentAudit,
  leaveAuditScope,
  runInAuditScope,
} from '../../src/adapters/audit-scope.ts';

const scope = (name: string) => new AuditScope(name, 'image', async () => undefined);
const tick = () => new Promise((r) => setImmediate(r));

describe('audit scope', () => {
  it('follows a request across awaits, and again after every scope was left', async () => {
    for (let round = 0; round < 2; round++) {
      const a = scope(`a${round}`);
      const seen = await runInAuditScope(a, async () => {
        await tick();
        return currentAudit();
      });
      expect(seen).toBe(a);
      leaveAuditScope(a);
      expect(currentAudit()).toBeUndefined();
    }
  });

  it('keeps a request in flight in its scope when another request leaves its own', async () => {
    const a = scope('a');
    const b = scope('b');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const inA = runInAuditScope(a, async () => {
      await gate;
      await tick();
      return currentAudit();
    });
    await runInAuditScope(b, async () => tick());
    leaveAuditScope(b);
    leaveAuditScope(b); // leaving twice counts once
    release();
    expect(await inA).toBe(a);
    leaveAuditScope(a);
  });

  it('is left by the request only once however often its handler ran in it', async () => {
    const a = scope('a');
    runInAuditScope(a, () => undefined);
    runInAuditScope(a, () => undefined);
    leaveAuditScope(a);
    const b = scope('b');
    expect(await runInAuditScope(b, async () => (await tick(), currentAudit()))).toBe(b);
    leaveAuditScope(b);
    expect(currentAudit()).toBeUndefined();
  });
});
