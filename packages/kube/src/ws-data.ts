/** ws hands message data over in three shapes; the modules here want one Buffer. */
import type { RawData } from 'ws';

/** The message as one Buffer (no copy when it already is one). */
export function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
