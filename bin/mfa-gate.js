#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx, so `npx mfa-gate` works right after `npm ci`
// with no build step.
import { register } from 'tsx/esm/api';

// A `serve --workers` worker (src/cli/cluster.ts) ignores SIGHUP until its policy holder takes it over: the
// primary forwards SIGHUP only to serving workers, but a terminal hang-up reaches the whole process group, and
// SIGHUP's default action would kill a worker still loading (from here on; Node's own start-up, a few ms, and
// the primary's own start stay exposed, as a single process's start is).
if (process.env.MFA_GATE_WORKER_SLOT !== undefined) process.on('SIGHUP', () => {});

register();
await import('../src/cli/index.ts');
