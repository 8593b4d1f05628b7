import { Bytes, hasMagic } from './bytes.ts';
import { runDetector } from './detection.ts';
import type { RefusedFormat } from './types.ts';
import type { Detector, FileView } from './view.ts';

/**
 * Formats qemu can read that IMS does not accept. They are detected only so
 * that such a file is refused for what it is, instead of passing as raw
 * (where a later probe, or a careless tool, would read it as its real format).
 * The signatures are the ones qemu's probes use.
 */
function refused(name: RefusedFormat, matches: (view: FileView) => boolean): Detector {
  return {
    name,
    plan: () => [],
    detect(view) {
      if (!matches(view)) return null;
      return runDetector(name, 'container', (f) => {
        f.variant = name;
        if (name === 'luks') {
          f.add('encrypted', 'LUKS encrypted container; IMS does not accept encrypted images');
          f.variant = `luks${new Bytes(view.head).u16be(6)}`;
        } else {
          f.add('unsupported-feature', `${name} images are not supported by IMS`);
        }
      });
    },
  };
}

/** `LUKS\xBA\xBE`, version u16 BE @6. Any version is an encrypted container. */
export const luksDetector = refused('luks', (v) => hasMagic(v.head, 0, Buffer.from('4c554b53babe', 'hex')));

/** qemu's bochs probe: the magic string at 0 (type and version follow). */
export const bochsDetector = refused('bochs', (v) => hasMagic(v.head, 0, 'Bochs Virtual HD Image'));

/** qemu's cloop probe compares the shell-script preamble; its first two lines are distinctive enough. */
export const cloopDetector = refused('cloop', (v) => hasMagic(v.head, 0, '#!/bin/sh\n#V2.0 Format\n'));

/** Parallels (also Virtuozzo ploop): either of the two 16-byte magics at 0. */
export const parallelsDetector = refused(
  'parallels',
  (v) => hasMagic(v.head, 0, 'WithoutFreeSpace') || hasMagic(v.head, 0, 'WithouFreSpacExt'),
);

/**
 * Apple UDIF (dmg): a 512-byte `koly` trailer at the end, BE, header size 512
 * @8. qemu itself only probes dmg by file name, but the service never passes
 * user-chosen names, so the trailer is what identifies it.
 */
export const dmgDetector = refused('dmg', (v) => {
  if (v.size < 512n) return false;
  const t = v.bytes(v.size - 512n, 512);
  return t !== null && hasMagic(t, 0, 'koly') && t.readUInt32BE(8) === 512;
});
