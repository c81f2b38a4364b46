// An instance's backup schedules: cron, time zone, retention; add and remove.
import { useState } from "preact/hooks";
import { call, type Schedule } from "./api";
import { Problem, useRefresh } from "./common";

export function SchedulesCard({ name }: { name: string }) {
  const [schedules, setSchedules] = useState<Schedule[]>([]);
  const [cron, setCron] = useState("0 3 * * *");
  const [days, setDays] = useState(7);
  const [error, setError] = useState<Error | null>(null);
  const load = async () => {
    try {
      setSchedules((await call<{ schedules: Schedule[] }>("GET", `/instances/${name}/schedules`)).schedules);
    } catch (e) {
      setError(e as Error);
    }
  };
  useRefresh(load, 5000, [name]);
  const act = async (method: string, path: string, body?: unknown) => {
    setError(null);
    try {
      await call(method, path, body);
      await load();
    } catch (e) {
      setError(e as Error);
    }
  };
  return (
    <section class="card" aria-label="Schedules">
      <h2>Backup schedules</h2>
      {schedules.length === 0 ? <p>No schedule: backups are taken only when asked.</p> : (
        <table>
          <thead><tr><th scope="col">When (cron)</th><th scope="col">Time zone</th><th scope="col">Kept</th><th scope="col"></th></tr></thead>
          <tbody>
            {schedules.map((s) => (
              <tr key={s.id}>
                <td><code>{s.cron}</code></td>
                <td>{s.timeZone}</td>
                <td>{s.retentionDays !== null ? `${s.retentionDays} days` : `${s.keepDaily} daily, ${s.keepWeekly} weekly, ${s.keepMonthly} monthly`}</td>
                <td><button class="small" aria-label={`Remove schedule ${s.cron}`} onClick={() => act("DELETE", `/instances/${name}/schedules/${s.id}`)}>Remove</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form class="inline" onSubmit={(e) => { e.preventDefault(); void act("POST", `/instances/${name}/schedules`, { cron, retentionDays: days }); }}>
        <label for="schedule-cron">Cron</label>
        <input id="schedule-cron" value={cron} required onInput={(e) => setCron((e.target as HTMLInputElement).value)} />
        <label for="schedule-days">Keep (days)</label>
        <input id="schedule-days" type="number" min={1} max={36500} value={days} onInput={(e) => setDays(Number((e.target as HTMLInputElement).value))} />
        <button type="submit">Add schedule</button>
      </form>
      <Problem error={error} />
    </section>
  );
}
