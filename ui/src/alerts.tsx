// Alerts: the daemon's warnings and errors (failovers, failed backups, copies and drills),
// newest first; polled with `since` so only what is new is fetched.
import { useRef, useState } from "preact/hooks";
import { call, type Alert } from "./api";
import { Problem, useRefresh } from "./common";

export function AlertsPage() {
  const [alerts, setAlerts] = useState<Alert[]>([]);
  const [error, setError] = useState<Error | null>(null);
  const newest = useRef(0);
  useRefresh(async () => {
    try {
      const got = (await call<{ alerts: Alert[] }>("GET", `/alerts?since=${newest.current}&limit=200`)).alerts;
      if (got.length > 0) {
        newest.current = got[0].id;
        setAlerts((old) => [...got, ...old].slice(0, 500));
      }
      setError(null);
    } catch (e) {
      setError(e as Error);
    }
  }, 5000);
  return (
    <>
      <h1>Alerts</h1>
      <Problem error={error} />
      {alerts.length === 0 ? <p>Nothing has gone wrong.</p> : (
        <table>
          <thead><tr><th scope="col">When</th><th scope="col">Level</th><th scope="col">Instance</th><th scope="col">What</th></tr></thead>
          <tbody>
            {alerts.map((a) => (
              <tr key={a.id}>
                <td>{new Date(a.at).toLocaleString()}</td>
                <td><span class={`status ${a.level === "error" ? "failed" : "warn"}`}>{a.level}</span></td>
                <td>{a.instance ? <a href={`#/instances/${a.instance}`}>{a.instance}</a> : "–"}</td>
                <td class="message">{a.message}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
