// `serve --workers N`: one primary process and N worker processes (node:cluster) sharing one listening port.
// A Node process serves on one core; the decision path is CPU work (parsing, signals, policy, store calls,
// the decision log), so a second core serves a second worker. Every guarantee already holds across processes:
// single use and throttling are single statements in the store (SQLite serialises writers on its file lock,
// PostgreSQL as for several instances), and the secret key and API keys are read from the same files.
//
// The primary does the one-time work before forking (policy checked, store opened and migrated, secret key and
// API keys generated on a first start), so workers never race to create them; then it only supervises:
// forwards SIGTERM/SIGINT (graceful stop) and SIGHUP (policy reload), restarts a worker that dies (with a
// growing delay), gives up when none is left and restarts keep failing, and answers `/metrics` for the whole
// cluster (src/http/cluster-metrics.ts).
import cluster, { type Worker } from 'node:cluster';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { serveWorkerScrapes } from '../http/cluster-metrics.js';

/** Set in each worker's environment: its slot, 0..N-1 (a restarted worker keeps its slot). Slot 0 purges. */
export const WORKER_SLOT_ENV = 'MFA_GATE_WORKER_SLOT';
/** A worker that dies is restarted after this long, doubled for each other exit in RESTART_WINDOW_MS (no tight crash loop). */
export const RESTART_DELAY_MS = 1000;
export const MAX_RESTART_DELAY_MS = 30_000;
/**
 * With no worker left alive and more than this many exits within RESTART_WINDOW_MS, the service stops (exit 1)
 * so that its supervisor (systemd, Kubernetes) sees the failure. While one worker still serves, restarts go
 * on: a replacement failing during a database outage must not take the healthy worker down with it.
 */
export const RESTART_LIMIT = 5;
export const RESTART_WINDOW_MS = 60_000;
/** Upper bound for --workers: far past any core count this service is run on; a typo (200) is refused. */
export const MAX_WORKERS = 64;

/** This process's worker slot under `serve --workers`, or null when it is not a worker. */
export function workerSlot(env: NodeJS.ProcessEnv = process.env): number | null {
  if (!cluster.isWorker) return null;
  const slot = Number(env[WORKER_SLOT_ENV]);
  return Number.isInteger(slot) && slot >= 0 ? slot : 0;
}

export interface PrimaryOptions {
  workers: number;
  logger: Logger;
  /** Called once, when every worker listens for the first time, with the address they share. */
  onListening: (address: AddressInfo) => void;
  /** Workers get this long after SIGTERM before the primary kills them and exits 1. */
  shutdownGraceMs: number;
}

/**
 * Forks the workers and supervises them. Resolves with the exit code when the cluster has stopped (signal,
 * or workers failing); the caller exits with it.
 */
export function runPrimary({ workers, logger, onListening, shutdownGraceMs }: PrimaryOptions): Promise<number> {
  return new Promise((resolve) => {
    const slots = new Map<Worker, number>();
    /** Slots whose worker has listened at least once (the first time all have, the service is announced). */
    const listened = new Set<number>();
    /** Workers serving now: listened, not exited. Only they get SIGHUP (a starting one would die of it) and scrapes. */
    const serving = new Set<Worker>();
    /** Pending restarts, cancelled by stop(): a 30 s restart delay must not hold the primary's exit. */
    const restarts = new Set<NodeJS.Timeout>();
    const exits: number[] = [];
    let announced = false;
    let stopping = false;
    let exitCode = 0;
    const stopScrapes = serveWorkerScrapes(() => [...serving]);

    const fork = (slot: number) => {
      const worker = cluster.fork({ [WORKER_SLOT_ENV]: String(slot) });
      slots.set(worker, slot);
    };
    const live = () => [...slots.keys()].filter((w) => !w.isDead());
    const finish = () => {
      if (live().length > 0) return;
      stopScrapes();
      cluster.off('listening', whenListening);
      cluster.off('exit', whenExited);
      for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.removeListener(s, handlers[s]);
      resolve(exitCode);
    };
    const stop = (reason: string, code: number) => {
      if (stopping) return;
      stopping = true;
      exitCode = code;
      for (const t of restarts) clearTimeout(t);
      restarts.clear();
      logger.info({ event: 'shutdown', reason, workers: live().length }, 'stopping the workers');
      for (const w of live()) w.process.kill('SIGTERM');
      const force = setTimeout(() => {
        for (const w of live()) w.process.kill('SIGKILL');
        exitCode = 1;
      }, shutdownGraceMs + 1000);
      force.unref();
      finish();
    };
    const handlers = {
      SIGTERM: () => stop('SIGTERM', 0),
      SIGINT: () => stop('SIGINT', 0),
      // Each worker watches the policy file itself; SIGHUP asks every serving one to re-read it now.
      SIGHUP: () => {
        for (const w of serving) w.process.kill('SIGHUP');
      },
    };
    for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(s, handlers[s]);

    const whenListening = (worker: Worker, address: { address: string | null; port: number; addressType: number | string }) => {
      const slot = slots.get(worker);
      if (slot === undefined) return;
      serving.add(worker);
      listened.add(slot);
      if (announced) logger.info({ event: 'worker_listening', slot }, `worker ${slot} is serving again`);
      if (!announced && listened.size === workers) {
        announced = true;
        onListening({ address: address.address ?? '127.0.0.1', port: address.port, family: address.addressType === 6 ? 'IPv6' : 'IPv4' });
      }
    };
    const whenExited = (worker: Worker, code: number, signal: string | null) => {
      const slot = slots.get(worker);
      slots.delete(worker);
      serving.delete(worker);
      if (slot === undefined) return;
      if (stopping) {
        // A worker that had to be forced out (its own grace period ran out) makes the stop a failure.
        if (code !== 0 && signal !== 'SIGTERM') exitCode = 1;
        return finish();
      }
      // Before the service first listened, a worker that exits failed to start (port taken, store unreachable,
      // bad key file): the others would fail the same way, so the whole service stops with an error at once.
      if (!announced) {
        logger.error({ event: 'worker_failed', slot, exit_code: code, signal }, 'a worker exited before it listened; stopping');
        return stop('a worker failed to start', 1);
      }
      const now = Date.now();
      exits.push(now);
      while (exits.length > 0 && exits[0]! < now - RESTART_WINDOW_MS) exits.shift();
      if (exits.length > RESTART_LIMIT && serving.size === 0) {
        logger.error({ event: 'worker_failed', slot, exit_code: code, signal }, `no worker left and ${exits.length} exits within ${RESTART_WINDOW_MS / 1000}s; stopping`);
        return stop('workers keep failing', 1);
      }
      // The others serve meanwhile.
      const delay = Math.min(RESTART_DELAY_MS * 2 ** (exits.length - 1), MAX_RESTART_DELAY_MS);
      logger.error({ event: 'worker_exited', slot, exit_code: code, signal }, `worker ${slot} exited; restarting it in ${delay} ms`);
      const timer = setTimeout(() => {
        restarts.delete(timer);
        if (!stopping) fork(slot);
      }, delay);
      restarts.add(timer);
    };
    cluster.on('listening', whenListening);
    cluster.on('exit', whenExited);

    for (let slot = 0; slot < workers; slot++) fork(slot);
  });
}
