// The repository: what the local one holds against what it stores (dedup and compression's
// saving), its history, and the remote repositories backups are copied to.
import { useState } from "preact/hooks";
import { bytes, call, type LocalRepository, type RemoteRepository } from "./api";
import { RepositoryChart } from "./chart";
import { Problem, useRefresh } from "./common";

export function RepositoryPage() {
  const [local, setLocal] = useState<LocalRepository | null>(null);
  const [remotes, setRemotes] = useState<RemoteRepository[]>([]);
  const [error, setError] = useState<Error | null>(null);
  useRefresh(async () => {
    try {
      setLocal((await call<{ repository: LocalRepository }>("GET", "/repository")).repository);
      setRemotes((await call<{ repositories: RemoteRepository[] }>("GET", "/repositories")).repositories);
      setError(null);
    } catch (e) {
      setError(e as Error);
    }
  }, 10000);
  return (
    <>
      <h1>Repository</h1>
      <Problem error={error} />
      {local && (
        <section aria-labelledby="local-heading">
          <h2 id="local-heading">On this machine</h2>
          <dl>
            <dt>Backups hold</dt><dd data-testid="logical">{bytes(local.logicalBytes)}</dd>
            <dt>Stored on disk</dt><dd data-testid="stored">{bytes(local.storedBytes)}</dd>
            <dt>Saved by dedup and compression</dt>
            <dd data-testid="saved">
              {bytes(local.savedBytes)}
              {local.dedupRatio !== null && ` (${local.dedupRatio.toFixed(1)}× smaller)`}
            </dd>
          </dl>
          {local.history.length > 0 ? <RepositoryChart history={local.history} /> : <p>No backup yet.</p>}
        </section>
      )}
      <section aria-labelledby="remote-heading">
        <h2 id="remote-heading">Copies off this machine</h2>
        {remotes.length === 0 ? <p>No remote repository is configured (docs/OPERATIONS.md says how).</p> : (
          <table>
            <thead><tr><th scope="col">Name</th><th scope="col">Bucket</th><th scope="col">Encrypted</th><th scope="col">Sent</th><th scope="col">Last success</th><th scope="col">Problems</th></tr></thead>
            <tbody>
              {remotes.map((r) => (
                <tr key={r.name}>
                  <td>{r.name}</td>
                  <td>{r.bucket} ({r.endpoint})</td>
                  <td>{r.encrypted ? "yes" : "no"}</td>
                  <td>{bytes(r.bytesSent)}</td>
                  <td>{r.lastSuccessAt ? new Date(r.lastSuccessAt).toLocaleString() : "never"}</td>
                  <td class="message">{r.failures > 0 ? `${r.failures} failed${r.lastError ? `: ${r.lastError}` : ""}` : "none"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}
