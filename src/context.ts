// Normalises what callers send (the HTTP body, an eval context file, a test-suite input) into the
// shared vocabulary. Shapes are validated by the JSON Schemas in schemas/ before they get here.
import type { LoginContext, UserState } from './types.js';

/** A context as callers write it (`schemas/context.schema.json`). */
export interface ContextInput {
  user: { id: string; type?: 'human' | 'service'; groups?: string[]; mfa_required_since?: string };
  ip?: string | null;
  user_agent?: string;
  device_id?: string;
  action?: string;
  sensitive?: boolean;
  attributes?: Record<string, unknown>;
}

/** A user's state as tests and `mfa-gate eval` write it inline: ISO times instead of epoch ms. */
export interface StateInput {
  enrolled?: boolean;
  enrolled_at?: string | null;
  first_seen?: string | null;
  known_devices?: string[];
  known_locations?: string[];
  last_login?: { time: string; ip?: string | null } | null;
  last_mfa?: { time: string; device: string } | null;
  failed_attempts?: number;
  enrollment_deadline?: string | null;
}

export function normalizeContext(input: ContextInput): LoginContext {
  const ctx: LoginContext = {
    user: {
      id: input.user.id,
      type: input.user.type ?? 'human',
      groups: input.user.groups ?? [],
    },
    ip: input.ip ?? null,
    user_agent: input.user_agent ?? '',
  };
  if (input.user.mfa_required_since !== undefined) ctx.user.mfa_required_since = input.user.mfa_required_since;
  if (input.device_id !== undefined && input.device_id !== '') ctx.device_id = input.device_id;
  if (input.action !== undefined) ctx.action = input.action;
  if (input.sensitive !== undefined) ctx.sensitive = input.sensitive;
  if (input.attributes !== undefined) ctx.attributes = input.attributes;
  return ctx;
}

function ms(iso: string | null | undefined): number | null {
  if (iso === null || iso === undefined) return null;
  const t = Date.parse(iso);
  if (Number.isNaN(t)) throw new TypeError(`invalid time "${iso}" (expected an ISO 8601 date-time)`);
  return t;
}

export function stateFromInput(input: StateInput): UserState {
  const enrolledAt = ms(input.enrolled_at);
  return {
    enrolled: input.enrolled ?? enrolledAt !== null,
    enrolled_at: enrolledAt,
    first_seen: ms(input.first_seen),
    known_devices: input.known_devices ?? [],
    known_locations: input.known_locations ?? [],
    last_login: input.last_login ? { time: ms(input.last_login.time) as number, ip: input.last_login.ip ?? null } : null,
    last_mfa: input.last_mfa ? { time: ms(input.last_mfa.time) as number, device: input.last_mfa.device } : null,
    failed_attempts: input.failed_attempts ?? 0,
    enrollment_deadline: ms(input.enrollment_deadline),
    recovery_due_at: null,
  };
}
