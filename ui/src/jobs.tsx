// Jobs: what the daemon does or did (backups, restores, drills, ...), with live progress.
import { useState } from "preact/hooks";
import { call, type Job } from "./api";
import { Problem, useRefresh } from "./common";

export function JobsPage() {
  const [jobs, setJobs] = useState<Job[]>([]);
  const [error, setError] = useState<Error | null>(null);
  useRefresh(async () => {
    try {
      setJobs((await call<{ jobs: Job[] }>("GET", "/jobs")).jobs);
      setError(null);
    } catch (e) {
      setError(e as Error);
    }
  }, 1000);
  return (
    <>
      <h1>Jobs</h1>
      <Problem error={error} />
      {jobs.length === 0 ? <p>No jobs yet.</p> : (
        <table>
          <thead><tr><th scope="col">Job</th><th scope="col">Type</th><th scope="col">Instance</th><th scope="col">Status</th><th scope="col">Progress</th><th scope="col">Created</th></tr></thead>
          <tbody>
            {jobs.map((j) => (
              <tr key={j.id}>
                <td><code>{j.id}</code></td>
                <td>{j.type}</td>
                <td><a href={`#/instances/${j.instance}`}>{j.instance}</a></td>
                <td>{j.status}{j.error ? `: ${typeof j.error === "string" ? j.error : j.error.message}` : ""}</td>
                <td><progress max={1} value={j.progress} aria-label={`Progress of job ${j.id}`} /> {Math.round(j.progress * 100)}%</td>
                <td>{new Date(j.createdAt).toLocaleString()}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
