// Restore into a new instance: to a backup, or to a time picked on the recovery window's
// timeline (from the oldest backup to the last archived WAL).
import { useState } from "preact/hooks";
import { call, NAME_PATTERN, type Backup, type RecoveryWindow } from "./api";
import { Problem, useRefresh } from "./common";

export function RestoreCard({ name, backups }: { name: string; backups: Backup[] }) {
  const ready = backups.filter((b) => b.status === "completed");
  const [recovery, setRecovery] = useState<RecoveryWindow | null>(null);
  const [mode, setMode] = useState<"backup" | "time">("backup");
  const [backup, setBackup] = useState(ready[0]?.backupName ?? "");
  const [at, setAt] = useState<number | null>(null); // seconds since the epoch
  const [target, setTarget] = useState(`${name}-copy`);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  useRefresh(async () => {
    try {
      setRecovery((await call<{ recoveryWindow: RecoveryWindow }>("GET", `/instances/${name}/recovery-window`)).recoveryWindow);
    } catch {
      setRecovery(null); // no archive (or none yet): backups only
    }
  }, 5000, [name]);
  // Milliseconds inside the window (its ends have microseconds): the first whole one after
  // its start, the last at or before its end. Right after the first backup the window is
  // one instant: a time can be picked once more WAL is archived.
  const from = recovery ? Date.parse(recovery.earliestTime) + 1 : 0;
  const to = recovery ? Date.parse(recovery.latestTime) : 0;
  const span = recovery !== null && to > from;
  const picked = at === null ? to : Math.min(Math.max(at, from), to);
  const mark = async () => {
    setError(null);
    try {
      await call("POST", `/instances/${name}/restore-points`, { name: `mark-${Date.now()}` });
    } catch (err) {
      setError(err as Error);
    }
  };
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body: Record<string, unknown> = { newInstanceName: target };
      if (mode === "backup") body.backupName = backup;
      // The window's end as the daemon gave it (microseconds): the slider's milliseconds
      // would fall just before its last commit and leave it out.
      else body.targetTime = picked >= to && recovery ? recovery.latestTime : new Date(picked).toISOString();
      await call("POST", `/instances/${name}/restore`, body);
      location.hash = `#/instances/${target}`;
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card wide" onSubmit={submit} aria-label="Restore">
      <h2>Restore into a new instance</h2>
      <fieldset>
        <legend>Restore to</legend>
        <label><input type="radio" name="mode" checked={mode === "backup"} onChange={() => setMode("backup")} /> a backup</label>
        <label><input type="radio" name="mode" checked={mode === "time"} disabled={!span} onChange={() => setMode("time")} /> a time</label>
      </fieldset>
      {mode === "backup" ? (
        <>
          <label for="restore-backup">Backup</label>
          <select id="restore-backup" value={backup} onChange={(e) => setBackup((e.target as HTMLSelectElement).value)}>
            {ready.map((b) => <option key={b.backupName} value={b.backupName}>{b.backupName}</option>)}
          </select>
        </>
      ) : span && (
        <>
          <label for="restore-time">Time, on the recovery window</label>
          <input id="restore-time" type="range" min={from} max={to} step={1} value={picked}
            aria-valuetext={new Date(picked).toLocaleString()}
            onInput={(e) => setAt(Number((e.target as HTMLInputElement).value))} />
          <div class="timeline" aria-hidden="true">
            <span>{new Date(from).toLocaleString()}</span>
            <span>{new Date(to).toLocaleString()}</span>
          </div>
          <output for="restore-time">{new Date(picked).toLocaleString()}</output>
        </>
      )}
      {recovery && (
        <p>
          <small>Recoverable from {new Date(recovery.earliestTime).toLocaleString()} to {new Date(recovery.latestTime).toLocaleString()} ({recovery.backups} backups).</small>{" "}
          <button type="button" class="small" onClick={mark}>Mark a restore point</button>
        </p>
      )}
      <label for="restore-name">New instance's name</label>
      <input id="restore-name" value={target} required pattern={NAME_PATTERN} maxLength={63}
        onInput={(e) => setTarget((e.target as HTMLInputElement).value)} />
      <button type="submit" disabled={busy}>{busy ? "Restoring…" : "Restore"}</button>
      <Problem error={error} />
    </form>
  );
}
