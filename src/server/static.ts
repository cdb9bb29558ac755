/**
 * The live dashboard's files (client/dashboard), served by the server at `/` and `/dashboard/…`.
 * The set of files is fixed and read once, when the server is created: no path from a request
 * ever reaches the file system.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface StaticFile {
  readonly type: string;
  readonly body: Buffer;
}

const FILES: Readonly<Record<string, { readonly file: string; readonly type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard/charts.js': { file: 'charts.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

/** Where client/dashboard is, from this file in src/server/ (tsx) or in dist/src/server/ (built). */
function dashboardDir(): string | undefined {
  for (const up of ['../../client/dashboard/', '../../../client/dashboard/']) {
    const dir = fileURLToPath(new URL(up, import.meta.url));
    if (existsSync(`${dir}index.html`)) return dir;
  }
  return undefined;
}

/** The dashboard's files by URL path; empty when the client folder is not installed. */
export function loadDashboard(): ReadonlyMap<string, StaticFile> {
  const dir = dashboardDir();
  const files = new Map<string, StaticFile>();
  if (dir === undefined) return files;
  for (const [path, { file, type }] of Object.entries(FILES)) files.set(path, { type, body: readFileSync(`${dir}${file}`) });
  return files;
}

/** Headers for dashboard files: the page may load only its own scripts and talk only to its own server. */
export const DASHBOARD_HEADERS = {
  'content-security-policy': "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'",
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-cache',
} as const;
