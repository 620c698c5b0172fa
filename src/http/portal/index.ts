// The MFA page (GET/POST /mfa): see routes.tsx.
export { portalRoutes, type PortalOptions } from './routes.js';
export { DEFAULT_USER_HEADERS } from '../authz/gateway-config.js';
export { compileRedirectDomains, safeRedirect, type RedirectAllowlist } from './redirect.js';
export { CSRF_COOKIE } from './csrf.js';
export { TESTID, LABELS } from './views.js';
