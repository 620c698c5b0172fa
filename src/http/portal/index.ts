// The MFA page (GET/POST /mfa): see routes.tsx.
export { portalRoutes, DEFAULT_USER_HEADERS, type PortalOptions } from './routes.js';
export { compileRedirectDomains, safeRedirect, type RedirectAllowlist } from './redirect.js';
export { CSRF_COOKIE } from './csrf.js';
export { TESTID, LABELS } from './views.js';
