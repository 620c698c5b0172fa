// Test helper: a hand-built CompiledPolicy, so the signal tests do not depend on the policy loader.
// Not imported by production code.
import { BlockList, isIP } from 'node:net';
import type { ActionMatcher, CompiledPolicy, NetworkList } from '../policy/types.js';
import { DEFAULT_FACTORS, DEFAULT_NOTIFICATIONS, DEFAULT_THROTTLING } from '../policy/defaults.js';

/** A NetworkList over node:net BlockList: one list per CIDR, so `match` can name the CIDR that matched. */
export function networkList(cidrs: readonly string[]): NetworkList {
  const entries = cidrs.map((cidr) => {
    const [net = '', bits = ''] = cidr.split('/');
    const type = isIP(net) === 6 ? 'ipv6' : 'ipv4';
    const list = new BlockList();
    list.addSubnet(net, Number(bits), type);
    return { cidr, list };
  });
  return {
    size: entries.length,
    match(ip: string): string | null {
      const family = isIP(ip);
      if (family === 0) return null;
      const type = family === 6 ? 'ipv6' : 'ipv4';
      for (const { cidr, list } of entries) if (list.check(ip, type)) return cidr;
      return null;
    },
  };
}

export const ADMIN_MATCHER: ActionMatcher = { source: 'admin.*', test: (a) => a.startsWith('admin.') };

export interface TestPolicyOptions {
  granularity?: CompiledPolicy['location']['granularity'];
  unknown_location?: CompiledPolicy['location']['unknown_location'];
  max_speed_kmh?: number;
  min_distance_km?: number;
  trusted?: readonly string[];
  blocked?: readonly string[];
  blocked_countries?: readonly string[];
  allowed_countries?: readonly string[] | null;
  sensitive_actions?: ActionMatcher[];
}

/** Defaults as DESIGN.md: country granularity, unknown_location auto, 900 km/h over 500 km. */
export function testPolicy(options: TestPolicyOptions = {}): CompiledPolicy {
  const {
    granularity = 'country',
    unknown_location = 'auto',
    max_speed_kmh = 900,
    min_distance_km = 500,
    trusted = [],
    blocked = [],
    blocked_countries = [],
    allowed_countries = null,
    sensitive_actions = [ADMIN_MATCHER],
  } = options;
  return {
    version: 'test',
    source: 'test-policy.ts',
    enforcement: {
      grace_period_s: 30 * 86_400,
      remember_mfa_s: 12 * 3_600,
      step_up_max_age_s: 5 * 60,
      risk_based_prompting: [],
      all_users: true,
      users: new Set(),
      groups: new Set(),
      exclude_service_accounts: true,
      exclude_users: new Set(),
      exclude_groups: new Set(),
      fail_mode: 'require_mfa',
    },
    overrides: [],
    recovery: { backup_codes: 10, admin_recovery: 'verify_with_id', recovery_timeout_s: 86_400 },
    sensitive_actions,
    networks: { trusted: networkList(trusted), blocked: networkList(blocked) },
    countries: {
      blocked: new Set(blocked_countries),
      allowed: allowed_countries === null ? null : new Set(allowed_countries),
    },
    location: { granularity, unknown_location },
    impossible_travel: { max_speed_kmh, min_distance_km },
    risk: {
      weights: {
        new_device: 0,
        new_location: 0,
        impossible_travel: 0,
        sensitive_action: 0,
        trusted_network: 0,
        blocked_network: 0,
        blocked_country: 0,
        first_login: 0,
        failed_attempts: 0,
      },
      thresholds: {},
    },
    rules: [],
    time_zone: 'UTC',
    factors: { ...DEFAULT_FACTORS },
    throttling: { ...DEFAULT_THROTTLING },
    notifications: DEFAULT_NOTIFICATIONS,
  };
}
