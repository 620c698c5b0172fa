import { Gauge, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { Decision, Reason } from '../types.js';
import { createMetrics, MAX_ROUTES, MAX_RULES, type Metrics } from './metrics.js';

const P = 'mfa_gate_';

function fresh(opts: { collectDefault?: boolean } = {}): { m: Metrics; registry: Registry } {
  const registry = new Registry();
  return { m: createMetrics({ registry, collectDefault: opts.collectDefault ?? false }), registry };
}

function decision(kind: Decision['decision'], reasons: Reason[] = [], version = 'v1'): Pick<Decision, 'decision' | 'reasons' | 'policy'> {
  return { decision: kind, reasons, policy: { version } };
}

/** The value of one sample, matched on name and an exact label set. */
async function value(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const all = await registry.getMetricsAsJSON();
  for (const metric of all) {
    for (const v of metric.values) {
      const sampleName = (v as { metricName?: string }).metricName ?? metric.name;
      if (sampleName !== name) continue;
      const l = v.labels as Record<string, string | number>;
      const keys = Object.keys(l);
      if (keys.length === Object.keys(labels).length && keys.every((k) => String(l[k]) === labels[k])) return v.value;
    }
  }
  return undefined;
}

describe('createMetrics', () => {
  it('counts decisions by outcome and reasons by rule, decision and enforcement', async () => {
    const { m, registry } = fresh();
    expect(await value(registry, `${P}decisions_total`, { decision: 'allow' })).toBe(0);
    m.observeDecision(decision('allow'), 0.0002);
    m.observeDecision(
      decision('require_mfa', [
        { rule: 'new_device', decision: 'prompt_mfa', enforced: true },
        { rule: 'admins_always', decision: 'require_mfa', enforced: true },
        { rule: 'geo_report', decision: 'deny', enforced: false },
      ]),
      0.003,
    );
    m.observeDecision(decision('require_mfa', [{ rule: 'new_device', decision: 'prompt_mfa', enforced: true }]), 0.004);

    expect(await value(registry, `${P}decisions_total`, { decision: 'allow' })).toBe(1);
    expect(await value(registry, `${P}decisions_total`, { decision: 'require_mfa' })).toBe(2);
    expect(await value(registry, `${P}decisions_total`, { decision: 'deny' })).toBe(0);
    const reasons = `${P}decision_reasons_total`;
    expect(await value(registry, reasons, { rule: 'new_device', decision: 'prompt_mfa', enforced: 'true' })).toBe(2);
    expect(await value(registry, reasons, { rule: 'admins_always', decision: 'require_mfa', enforced: 'true' })).toBe(1);
    expect(await value(registry, reasons, { rule: 'geo_report', decision: 'deny', enforced: 'false' })).toBe(1);
  });

  it('caps the number of distinct rule labels', async () => {
    const { m, registry } = fresh();
    for (let i = 0; i < MAX_RULES + 20; i++) m.observeDecision(decision('allow', [{ rule: `r${i}`, decision: 'allow', enforced: true }]), 0.001);
    const json = (await registry.getMetricsAsJSON()).find((x) => x.name === `${P}decision_reasons_total`)!;
    const rules = new Set(json.values.map((x) => x.labels.rule));
    expect(rules.size).toBe(MAX_RULES + 1);
    expect(await value(registry, `${P}decision_reasons_total`, { rule: 'other', decision: 'allow', enforced: 'true' })).toBe(20);
  });

  it('observes decision latency in a histogram with sub-millisecond buckets', async () => {
    const { m, registry } = fresh();
    m.observeDecision(decision('allow'), 0.00005);
    m.observeDecision(decision('allow'), 0.0003);
    m.observeDecision(decision('allow'), 0.02);
    m.observeDecision(decision('allow'), Number.NaN); // ignored by the histogram, still a decision
    const h = `${P}decision_duration_seconds`;
    expect(await value(registry, `${h}_count`)).toBe(3);
    expect(await value(registry, `${h}_sum`)).toBeCloseTo(0.02035, 10);
    expect(await value(registry, `${h}_bucket`, { le: '0.0001' })).toBe(1);
    expect(await value(registry, `${h}_bucket`, { le: '0.0005' })).toBe(2);
    expect(await value(registry, `${h}_bucket`, { le: '0.025' })).toBe(3);
    expect(await value(registry, `${h}_bucket`, { le: '+Inf' })).toBe(3);
    expect(await value(registry, `${P}decisions_total`, { decision: 'allow' })).toBe(4);
  });

  it('maps audit events to verifications, lockouts and factor events', async () => {
    const { m, registry } = fresh();
    const events = [
      { event: 'totp.enrollment_started', user_id: 'u' },
      { event: 'totp.confirm_failed', user_id: 'u', factor: 'totp' },
      { event: 'totp.enrolled', user_id: 'u' },
      { event: 'factor.verified', user_id: 'u', factor: 'totp' },
      { event: 'factor.verified', user_id: 'u', factor: 'backup_code' },
      { event: 'totp.failed', user_id: 'u', factor: 'totp' },
      { event: 'totp.failed', user_id: 'u', factor: 'totp' },
      { event: 'totp.replay_rejected', user_id: 'u', factor: 'totp' },
      { event: 'backup_code.failed', user_id: 'u', factor: 'backup_code' },
      { event: 'factor.locked', user_id: 'u', factor: 'totp' },
      { event: 'factor.unlocked', user_id: 'u', admin: 'ops' },
      { event: 'recovery.opened', user_id: 'u' },
      { event: 'something.new', user_id: 'u' },
    ];
    for (const e of events) m.observeAudit(e);
    m.observeThrottled('totp');
    m.observeThrottled('backup_code', 'locked');

    const v = `${P}verifications_total`;
    expect(await value(registry, v, { factor: 'totp', result: 'ok' })).toBe(1);
    expect(await value(registry, v, { factor: 'backup_code', result: 'ok' })).toBe(1);
    expect(await value(registry, v, { factor: 'totp', result: 'invalid' })).toBe(3);
    expect(await value(registry, v, { factor: 'totp', result: 'replay' })).toBe(1);
    expect(await value(registry, v, { factor: 'backup_code', result: 'invalid' })).toBe(1);
    expect(await value(registry, v, { factor: 'totp', result: 'throttled' })).toBe(1);
    expect(await value(registry, v, { factor: 'backup_code', result: 'locked' })).toBe(1);
    expect(await value(registry, `${P}lockouts_total`, { factor: 'totp' })).toBe(1);
    expect(await value(registry, `${P}lockouts_total`, { factor: 'backup_code' })).toBe(0);
    const fe = `${P}factor_events_total`;
    expect(await value(registry, fe, { event: 'totp.failed' })).toBe(2);
    expect(await value(registry, fe, { event: 'factor.locked' })).toBe(1);
    expect(await value(registry, fe, { event: 'recovery.opened' })).toBe(1);
    expect(await value(registry, fe, { event: 'recovery.applied' })).toBe(0);
    // An unknown event name is not a new label value.
    expect(await value(registry, fe, { event: 'something.new' })).toBeUndefined();
    expect(await value(registry, fe, { event: 'other' })).toBe(1);
  });

  it('counts policy reloads by result', async () => {
    const { m, registry } = fresh();
    m.observeReload({ ok: true });
    m.observeReload({ ok: false });
    m.observeReload({ ok: false });
    expect(await value(registry, `${P}policy_reloads_total`, { result: 'ok' })).toBe(1);
    expect(await value(registry, `${P}policy_reloads_total`, { result: 'failed' })).toBe(2);
  });

  it('exposes exactly one policy version', async () => {
    const { m, registry } = fresh();
    m.setPolicyVersion('aaa111');
    m.setPolicyVersion('bbb222');
    const text = await registry.getSingleMetricAsString(`${P}policy_info`);
    const samples = text.split('\n').filter((l) => l.startsWith(`${P}policy_info{`));
    expect(samples).toEqual([`${P}policy_info{version="bbb222"} 1`]);

    // A reload result and a decision under a new version move it too.
    m.observeReload({ ok: true, version: 'ccc333' });
    expect(await value(registry, `${P}policy_info`, { version: 'ccc333' })).toBe(1);
    m.observeDecision(decision('allow', [], 'ddd444'), 0.001);
    const json = (await registry.getMetricsAsJSON()).find((x) => x.name === `${P}policy_info`)!;
    expect(json.values.map((x) => x.labels)).toEqual([{ version: 'ddd444' }]);
  });

  it('observes HTTP requests by method, route pattern and status, with bounded labels', async () => {
    const { m, registry } = fresh();
    m.observeHttp('POST', '/v1/decide', 200, 0.002);
    m.observeHttp('POST', '/v1/decide', 200, 0.003);
    m.observeHttp('GET', '/v1/users/:id/mfa', 404, 0.001);
    m.observeHttp('BREW', '/v1/decide', 405, 0.001); // client-chosen method: not a label value
    const h = `${P}http_request_duration_seconds`;
    expect(await value(registry, `${h}_count`, { method: 'POST', route: '/v1/decide', status: '200' })).toBe(2);
    expect(await value(registry, `${h}_count`, { method: 'GET', route: '/v1/users/:id/mfa', status: '404' })).toBe(1);
    expect(await value(registry, `${h}_count`, { method: 'other', route: '/v1/decide', status: '405' })).toBe(1);

    for (let i = 0; i < MAX_ROUTES + 50; i++) m.observeHttp('GET', `/r${i}`, 200, 0.001);
    const json = (await registry.getMetricsAsJSON()).find((x) => x.name === h)!;
    const routes = new Set(json.values.map((x) => x.labels.route));
    expect(routes.size).toBeLessThanOrEqual(MAX_ROUTES + 1);
    expect(routes.has('other')).toBe(true);
  });

  it('renders Prometheus text exposition', async () => {
    const { m, registry } = fresh({ collectDefault: true });
    m.observeDecision(decision('prompt_mfa', [{ rule: 'new "odd" rule\\x', decision: 'prompt_mfa', enforced: true }]), 0.001);
    m.observeAudit({ event: 'factor.verified', user_id: 'u', factor: 'totp' });
    m.observeReload({ ok: true, version: 'v1' });
    m.observeHttp('POST', '/v1/decide', 200, 0.002);
    const text = await registry.metrics();
    expect(registry.contentType).toMatch(/^text\/plain; version=0\.0\.4/);

    const help = /^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*$/;
    const type = /^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped)$/;
    const labelValue = String.raw`"(?:[^"\\\n]|\\["\\n])*"`;
    const labelPair = String.raw`[a-zA-Z_][a-zA-Z0-9_]*=${labelValue}`;
    // Values are Go floats (prom-client prints NaN as `Nan`, which Prometheus parses case-insensitively).
    const sample = new RegExp(
      String.raw`^[a-zA-Z_:][a-zA-Z0-9_:]*(\{(${labelPair})(,${labelPair})*\})? (-?[0-9.eE+-]+|[Nn][Aa][Nn]|[+-]Inf)( -?[0-9]+)?$`,
    );
    const lines = text.split('\n').filter((l) => l !== '');
    expect(lines.length).toBeGreaterThan(20);
    for (const line of lines) {
      expect(help.test(line) || type.test(line) || sample.test(line), line).toBe(true);
    }
    for (const name of [
      'decisions_total',
      'decision_reasons_total',
      'decision_duration_seconds',
      'verifications_total',
      'lockouts_total',
      'factor_events_total',
      'policy_reloads_total',
      'policy_info',
      'http_request_duration_seconds',
      'process_cpu_user_seconds_total',
      'nodejs_eventloop_lag_seconds',
    ]) {
      expect(text, name).toContain(`# TYPE ${P}${name} `);
    }
    // Every metric, default ones included, carries the prefix.
    for (const line of lines.filter((l) => l.startsWith('# TYPE '))) expect(line.startsWith(`# TYPE ${P}`), line).toBe(true);
  });

  it('does not clash across registries, and tolerates being created twice on one registry', async () => {
    // Default (new) registries: as many as the tests build apps.
    const a = createMetrics();
    const b = createMetrics();
    expect(a.registry).not.toBe(b.registry);
    a.observeDecision(decision('deny'), 0.001);
    expect(await value(a.registry, `${P}decisions_total`, { decision: 'deny' })).toBe(1);
    expect(await value(b.registry, `${P}decisions_total`, { decision: 'deny' })).toBe(0);

    // The same registry twice: the second call reuses the metrics instead of throwing on duplicate names.
    const registry = new Registry();
    const c = createMetrics({ registry });
    const d = createMetrics({ registry });
    c.observeReload({ ok: true });
    d.observeReload({ ok: true });
    expect(await value(registry, `${P}policy_reloads_total`, { result: 'ok' })).toBe(2);

    // A different prefix in the same registry is a separate set of metrics.
    const e = createMetrics({ registry, prefix: 'other_', collectDefault: false });
    e.observeReload({ ok: false });
    expect(await value(registry, 'other_policy_reloads_total', { result: 'failed' })).toBe(1);
    expect(await value(registry, `${P}policy_reloads_total`, { result: 'failed' })).toBe(0);
  });

  it('rejects a conflicting metric of the same name and a bad prefix', () => {
    const registry = new Registry();
    new Gauge({ name: 'x_decisions_total', help: 'not ours', registers: [registry] });
    expect(() => createMetrics({ registry, prefix: 'x_', collectDefault: false })).toThrow(/another type or label set/);
    expect(() => createMetrics({ prefix: 'bad-prefix', collectDefault: false })).toThrow(TypeError);
  });
});
