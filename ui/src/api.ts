// The REST API, with the bearer token the login form keeps in session storage (never in a
// URL). Errors carry the API's own message and hint (docs/api/openapi.yaml, Error).
const TOKEN_KEY = "dbaas-token";

export function savedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}
export function saveToken(token: string) {
  sessionStorage.setItem(TOKEN_KEY, token);
}
export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

// An instance's name as the API takes it (a DNS-1123 label), for the forms' `pattern`
// (the v flag of HTML patterns wants '-' escaped in a class).
export const NAME_PATTERN = "[a-z0-9]([a-z0-9\\-]*[a-z0-9])?";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

export async function call<T>(method: string, path: string, body?: unknown, token = savedToken()): Promise<T> {
  const headers: Record<string, string> = { Authorization: `Bearer ${token ?? ""}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json: any = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    throw new ApiError(res.status, `${method} ${path}: the daemon answered HTTP ${res.status}, not JSON`, "");
  }
  if (!res.ok) {
    const err = json?.error ?? {};
    throw new ApiError(res.status, err.message ?? `HTTP ${res.status}`, err.hint ?? "");
  }
  return json as T;
}

export interface Member {
  name: string;
  role: string;
  state: string;
  host: string;
  port: number;
  timeline: number;
  replication: { state: string; syncState: string; lagBytes: number; lagSeconds: number } | null;
}

export interface Instance {
  name: string;
  type: string;
  status: string;
  statusMessage?: string;
  size: string;
  createdAt: string;
  replicas?: number;
  synchronous?: boolean;
  primary?: string;
  members?: Member[];
  connection: null | {
    host: string;
    port: number;
    user: string;
    database: string;
    uri: string;
    password?: string;
  };
}

export interface Backup {
  backupName: string;
  status: string;
  createdAt: string;
  method?: string;
  snapshotKind?: string;
  dataBytes?: number;
  storedBytes?: number;
  durationSeconds?: number;
  pinned?: boolean;
  drill?: { status: string; seconds: number; rtoSeconds?: number; problems: string[] } | null;
}

export interface Job {
  id: string;
  type: string;
  instance: string;
  status: string;
  progress: number;
  createdAt: string;
  error?: { message: string } | string | null;
}

export interface Alert {
  id: number;
  at: string;
  level: "warn" | "error";
  instance: string | null;
  jobId: string | null;
  message: string;
}

export interface RepositorySizes {
  at: string;
  logicalBytes: number;
  storedBytes: number;
}

export interface LocalRepository {
  logicalBytes: number;
  storedBytes: number;
  savedBytes: number;
  dedupRatio: number | null;
  history: RepositorySizes[];
}

export interface RemoteRepository {
  name: string;
  endpoint: string;
  bucket: string;
  encrypted: boolean;
  leased: boolean;
  bytesSent: number;
  failures: number;
  lastSuccessAt: string | null;
  lastError: string | null;
}

export interface Schedule {
  id: string;
  cron: string;
  timeZone: string;
  retentionDays: number | null;
  keepDaily: number;
  keepWeekly: number;
  keepMonthly: number;
  verify: boolean;
}

export interface RecoveryWindow {
  earliestTime: string;
  latestTime: string;
  backups: number;
}

export function bytes(n: number | undefined): string {
  if (n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}
