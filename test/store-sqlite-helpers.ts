// Helpers for tests that look at what a SQLite store leaves on disk.
import { readFileSync } from 'node:fs';

/**
 * Every byte the database holds on disk: the main file followed by its write-ahead log (`<path>-wal`, when
 * present). Committed data may sit in either until a checkpoint, and freed pages keep old content, so
 * searching this buffer (`bytes.includes(plaintext)`) tells whether a secret ever reached the disk in clear.
 * Read it while the store is open (WAL still full) and again after close (checkpointed into the main file).
 */
export function readDatabaseBytes(path: string): Buffer {
  const parts = [readFileSync(path)];
  for (const suffix of ['-wal', '-journal']) {
    try {
      parts.push(readFileSync(path + suffix));
    } catch (error) {
      // Absent (never created, or removed by the last connection's close): nothing more on disk.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return Buffer.concat(parts);
}
