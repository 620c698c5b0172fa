// Secrets generated on first start (the encryption key, the admin API key) are written once, privately and
// atomically, even when several processes start at the same moment. A leaf: node:fs only.
import { randomUUID } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, unlinkSync, writeSync } from 'node:fs';

/**
 * Writes `content` to `path` (mode 0600, in `dir`, created 0700) unless it exists; false when another process
 * got there first. The content goes to a private temporary file first and is hard-linked into place (link fails
 * if the name exists), so a concurrent reader never sees a half-written file. Where hard links are unsupported,
 * an exclusive create. `error` wraps a failure in the caller's error type.
 */
export function createPrivateFileExclusively(
  dir: string,
  path: string,
  content: string,
  error: (message: string, cause: unknown) => Error,
): boolean {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw error(`cannot create ${dir}: ${(err as Error).message}`, err);
  }
  const fail = (err: unknown): Error => error(`cannot write ${path}: ${(err as Error).message}`, err);
  const tmp = `${path}.${process.pid}.${randomUUID()}.tmp`;
  try {
    writePrivate(tmp, content);
  } catch (err) {
    throw fail(err);
  }
  try {
    linkSync(tmp, path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EXDEV' && code !== 'ENOSYS') throw fail(err);
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // Already gone; nothing secret is left behind either way once the link or the fallback ran.
    }
  }
  try {
    writePrivate(path, content);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw fail(err);
  }
}

/** Exclusive create (`wx`) with mode 0600, flushed to disk before anyone can rely on it. */
function writePrivate(path: string, content: string): void {
  const fd = openSync(path, 'wx', 0o600);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
