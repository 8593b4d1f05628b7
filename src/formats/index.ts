/**
 * Disk image format inspection: what the bytes are, and whether IMS may accept
 * them. Pure TypeScript, no qemu. See README.md in this folder.
 */
export { FormatInspectionError } from './errors.ts';
export { inspectDeclared, inspectReader } from './inspector.ts';
export { bufferReader, openFileReader, rangeReader } from './readers.ts';
export {
  InspectionStream,
  StreamingInspector,
  createInspectionStream,
  inspectStream,
} from './stream-inspector.ts';
export { OPAQUE_FORMATS, acceptedFor, isOpaqueFormat } from './declared.ts';
export { MAX_BUFFERED_BYTES } from './view.ts';
export type {
  AcceptedFormat,
  DetectedFormat,
  Detection,
  InspectOptions,
  InspectionResult,
  QemuDriver,
  RandomAccessReader,
  RefusedFormat,
  Violation,
  ViolationReason,
} from './types.ts';
export { ACCEPTED_FORMATS, REFUSED_FORMATS, VIOLATION_REASONS } from './types.ts';
