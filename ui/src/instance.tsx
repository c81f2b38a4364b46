// One instance: its status, connection (secrets hidden until asked), members (standbys,
// switchover: members.tsx), backups (size, stored bytes, method, drill), a chart of its
// backups over time, and its actions.
import { useState } from "preact/hooks";
import { bytes, call, type Backup, type Instance } from "./api";
import { BackupChart } from "./chart";
import { RestoreCard } from "./restore";
import { SchedulesCard } from "./schedules";
import { MembersCard } from "./members";
import { Problem, useRefresh } from "./common";

export function InstancePage({ name }: { name: string }) {
  const [instance, setInstance] = useState<Instance | null>(null);
  const [backups, setBackups] = useState<Backup[]>([]);
  const [secrets, setSecrets] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState("");
  const load = async () => {
    try {
      const got = await call<{ instance: Instance }>("GET", `/instances/${name}${secrets ? "?showSecrets=true" : ""}`);
      setInstance(got.instance);
      setBackups((await call<{ backups: Backup[] }>("GET", `/instances/${name}/backups`)).backups);
    } catch (e) {
      setError(e as Error);
    }
  };
  useRefresh(load, 3000, [name, secrets]);
  const act = async (what: string, method: string, path: string, body?: unknown) => {
    setBusy(what);
    setError(null);
    try {
      await call(method, path, body);
      await load();
      return true;
    } catch (e) {
      setError(e as Error);
      return false;
    } finally {
      setBusy("");
    }
  };
  const remove = async () => {
    if (!confirm(`Delete instance ${name}? Its backups stay until their retention ends.`)) return;
    if (await act("delete", "DELETE", `/instances/${name}`)) location.hash = "#/";
  };
  if (!instance) return <><h1>{name}</h1><Problem error={error} /></>;
  const c = instance.connection;
  return (
    <>
      <h1>{name} <span class={`status ${instance.status}`}>{instance.status}</span></h1>
      {instance.statusMessage && <p>{instance.statusMessage}</p>}
      <Problem error={error} />
      <section class="card" aria-label="Connection">
        <h2>Connection</h2>
        <dl>
          <dt>Type</dt><dd>{instance.type}</dd>
          <dt>Size</dt><dd>{instance.size}</dd>
          {c && <><dt>Host</dt><dd>{c.host}:{c.port}</dd><dt>User</dt><dd>{c.user}</dd><dt>Database</dt><dd>{c.database}</dd>
            <dt>URI</dt><dd><code>{c.uri}</code></dd>
            <dt>Password</dt><dd>{!secrets ? "hidden" : c.password !== undefined ? <code>{c.password}</code> : "asking…"}</dd></>}
        </dl>
        <button onClick={() => setSecrets(!secrets)}>{secrets ? "Hide secrets" : "Show secrets"}</button>
      </section>
      {instance.type !== "mysql" && <MembersCard instance={instance} busy={busy} act={act} />}
      <section class="card" aria-label="Backups">
        <h2>Backups</h2>
        <div class="actions">
          <button onClick={() => act("backup", "POST", `/instances/${name}/backup`, {})} disabled={busy !== ""}>
            {busy === "backup" ? "Backing up…" : "Back up now"}
          </button>
          <button class="danger" onClick={remove} disabled={busy !== ""}>Delete instance</button>
        </div>
        {backups.length === 0 ? <p>No backups yet.</p> : (
          <>
            <table>
              <thead><tr><th scope="col">Backup</th><th scope="col">Taken</th><th scope="col">Status</th><th scope="col">Method</th><th scope="col">Data</th><th scope="col">Stored</th><th scope="col">Took</th><th scope="col">Drill</th></tr></thead>
              <tbody>
                {backups.map((b) => (
                  <tr key={b.backupName}>
                    <td>
                      {b.backupName}{b.pinned ? " (pinned)" : ""}{" "}
                      <button class="small" disabled={busy !== "" || b.status !== "completed"}
                        aria-label={`${b.pinned ? "Unpin" : "Pin"} ${b.backupName}`}
                        onClick={() => act(`pin ${b.backupName}`, "PATCH", `/instances/${name}/backups/${b.backupName}`, { pinned: !b.pinned })}>
                        {b.pinned ? "Unpin" : "Pin"}
                      </button>
                    </td>
                    <td>{new Date(b.createdAt).toLocaleString()}</td>
                    <td>{b.status}</td>
                    <td>{b.method ?? b.snapshotKind ?? "–"}</td>
                    <td>{bytes(b.dataBytes)}</td>
                    <td>{bytes(b.storedBytes)}</td>
                    <td>{b.durationSeconds !== undefined ? `${b.durationSeconds.toFixed(2)} s` : "–"}</td>
                    <td>
                      {b.drill
                        ? `${b.drill.status}${b.drill.rtoSeconds !== undefined ? `, RTO ${b.drill.rtoSeconds.toFixed(1)} s` : ""}`
                        : "not run"}{" "}
                      <button class="small" disabled={busy !== "" || b.status !== "completed"}
                        aria-label={`Run a restore drill of ${b.backupName}`}
                        onClick={() => act(`drill ${b.backupName}`, "POST", `/instances/${name}/backups/${b.backupName}/verify`, {})}>
                        {busy === `drill ${b.backupName}` ? "Drilling…" : "Drill"}
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            <BackupChart backups={backups} />
          </>
        )}
      </section>
      {backups.some((b) => b.status === "completed") && <RestoreCard name={name} backups={backups} />}
      <SchedulesCard name={name} />
    </>
  );
}
