// An instance's members: the primary and its standbys with their replication state and
// lag, how many standbys it has (and, PostgreSQL, whether commits wait for one), and a
// switchover to a standby.
import { useState } from "preact/hooks";
import { bytes, type Instance } from "./api";

type Act = (what: string, method: string, path: string, body?: unknown) => Promise<boolean>;

export function MembersCard({ instance, busy, act }: { instance: Instance; busy: string; act: Act }) {
  const [replicas, setReplicas] = useState(instance.replicas ?? 0);
  const [synchronous, setSynchronous] = useState(instance.synchronous ?? false);
  const members = instance.members ?? [];
  const postgres = instance.type === "postgresql";
  const apply = (e: Event) => {
    e.preventDefault();
    void act("replicas", "PATCH", `/instances/${instance.name}`,
      postgres ? { replicas, synchronous: replicas > 0 && synchronous } : { replicas });
  };
  return (
    <section class="card" aria-label="Members">
      <h2>Members</h2>
      {members.length > 0 && (
        <table>
          <thead><tr><th scope="col">Member</th><th scope="col">Role</th><th scope="col">State</th><th scope="col">Timeline</th><th scope="col">Replication</th><th scope="col">Lag</th><th scope="col">Switchover</th></tr></thead>
          <tbody>
            {members.map((m) => (
              <tr key={m.name}>
                <td>{m.name}</td><td>{m.role}</td><td>{m.state}</td><td>{m.timeline}</td>
                <td>{m.replication ? `${m.replication.state} (${m.replication.syncState})` : "–"}</td>
                <td>{m.replication ? `${bytes(m.replication.lagBytes)}, ${m.replication.lagSeconds.toFixed(2)} s` : "–"}</td>
                <td>
                  {m.role === "standby" && (
                    <button class="small" disabled={busy !== ""} aria-label={`Switch over to ${m.name}`}
                      onClick={() => act(`switchover ${m.name}`, "POST", `/instances/${instance.name}/switchover`, { to: m.name })}>
                      {busy === `switchover ${m.name}` ? "Switching…" : "Make primary"}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form class="actions" onSubmit={apply} aria-label="Change the standbys">
        <label for="replicas">Standbys</label>
        <input id="replicas" type="number" min={0} max={5} value={replicas}
          onInput={(e) => setReplicas(Number((e.target as HTMLInputElement).value))} />
        {postgres && (
          <label><input type="checkbox" checked={synchronous}
            onChange={(e) => setSynchronous((e.target as HTMLInputElement).checked)} /> Synchronous (a commit waits for a standby)</label>
        )}
        <button type="submit" disabled={busy !== ""}>{busy === "replicas" ? "Changing…" : "Apply"}</button>
      </form>
    </section>
  );
}
