// The instances: their status and type, standbys, and a form to make one.
import { useEffect, useState } from "preact/hooks";
import { call, NAME_PATTERN, type Instance } from "./api";
import { useRefresh, Problem } from "./common";

export function InstancesPage() {
  const [instances, setInstances] = useState<Instance[] | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const load = async () => {
    try {
      setInstances((await call<{ instances: Instance[] }>("GET", "/instances")).instances);
      setError(null);
    } catch (e) {
      setError(e as Error);
    }
  };
  useRefresh(load, 3000);
  return (
    <>
      <h1>Instances</h1>
      <Problem error={error} />
      {instances && instances.length === 0 && <p>No instances yet: make one below.</p>}
      {instances && instances.length > 0 && (
        <table>
          <thead>
            <tr><th scope="col">Name</th><th scope="col">Type</th><th scope="col">Status</th><th scope="col">Members</th><th scope="col">Created</th></tr>
          </thead>
          <tbody>
            {instances.map((i) => (
              <tr key={i.name}>
                <td><a href={`#/instances/${i.name}`}>{i.name}</a></td>
                <td>{i.type}</td>
                <td><span class={`status ${i.status}`}>{i.status}</span></td>
                <td>{i.members ? `${i.members.length} (primary ${i.primary})` : "1"}</td>
                <td>{new Date(i.createdAt).toLocaleString()}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <CreateForm onCreated={load} />
    </>
  );
}

function CreateForm({ onCreated }: { onCreated: () => void }) {
  const [name, setName] = useState("");
  const [type, setType] = useState("postgresql");
  const [replicas, setReplicas] = useState(0);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  useEffect(() => setError(null), [name, type]);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      const body: Record<string, unknown> = { name, type };
      if (replicas > 0) body.replicas = replicas;
      await call("POST", "/instances", body);
      setName("");
      onCreated();
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card" onSubmit={submit} aria-label="Create an instance">
      <h2>Create an instance</h2>
      <label for="new-name">Name</label>
      <input id="new-name" value={name} pattern={NAME_PATTERN} maxLength={63} required
        onInput={(e) => setName((e.target as HTMLInputElement).value)} />
      <label for="new-type">Type</label>
      <select id="new-type" value={type} onChange={(e) => setType((e.target as HTMLSelectElement).value)}>
        <option value="postgresql">PostgreSQL 15</option>
        <option value="mariadb">MariaDB 10.11</option>
        <option value="mysql">MySQL</option>
      </select>
      <label for="new-replicas">Standbys</label>
      <input id="new-replicas" type="number" min={0} max={5} value={replicas}
        onInput={(e) => setReplicas(Number((e.target as HTMLInputElement).value))} />
      <button type="submit" disabled={busy}>{busy ? "Creating…" : "Create"}</button>
      <Problem error={error} />
    </form>
  );
}
