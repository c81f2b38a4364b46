// Backup duration and stored bytes over time (uPlot, drawn on a canvas; its styles come
// from its own CSS file, so the page needs no inline style).
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { Backup, RepositorySizes } from "./api";

// Points close together: a day around them, not uPlot's default span of years.
function timeSpan(times: number[]): [number, number] {
  const first = Math.min(...times), last = Math.max(...times);
  return last - first < 86400 ? [first - 43200, last + 43200] : [first, last];
}

export function BackupChart({ backups }: { backups: Backup[] }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!box.current) return;
    const ready = backups.filter((b) => b.durationSeconds !== undefined).reverse();
    const data: uPlot.AlignedData = [
      ready.map((b) => Date.parse(b.createdAt) / 1000),
      ready.map((b) => b.durationSeconds ?? null),
      ready.map((b) => (b.storedBytes ?? 0) / 1048576),
    ];
    const width = Math.min(box.current.clientWidth || 600, 900);
    const span = timeSpan(data[0] as number[]);
    const plot = new uPlot(
      {
        title: "Backups: duration and stored size",
        width,
        height: 220,
        scales: {
          x: { time: true, range: () => span },
          mib: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] },
        },
        series: [
          {},
          { label: "duration (s)", stroke: "#2563eb", points: { show: true } },
          { label: "stored (MiB)", stroke: "#16a34a", scale: "mib", points: { show: true } },
        ],
        axes: [{}, { label: "s" }, { label: "MiB", scale: "mib", side: 1 }],
      },
      data,
      box.current,
    );
    return () => plot.destroy();
  }, [backups]);
  return <div ref={box} class="chart" role="img" aria-label="Chart of backup duration and stored size over time" />;
}

// The repository's logical bytes (what its snapshots hold) against its stored bytes (its
// packs on disk) over time: the gap is what dedup and compression save.
export function RepositoryChart({ history }: { history: RepositorySizes[] }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!box.current || history.length === 0) return;
    const data: uPlot.AlignedData = [
      history.map((h) => Date.parse(h.at) / 1000),
      history.map((h) => h.logicalBytes / 1048576),
      history.map((h) => h.storedBytes / 1048576),
    ];
    const plot = new uPlot(
      {
        title: "Repository: logical and stored size",
        width: Math.min(box.current.clientWidth || 600, 900),
        height: 220,
        scales: {
          x: { time: true, range: () => timeSpan(data[0] as number[]) },
          y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] },
        },
        series: [
          {},
          { label: "logical (MiB)", stroke: "#2563eb", points: { show: true } },
          { label: "stored (MiB)", stroke: "#16a34a", points: { show: true } },
        ],
        axes: [{}, { label: "MiB" }],
      },
      data,
      box.current,
    );
    return () => plot.destroy();
  }, [history]);
  return <div ref={box} class="chart" role="img" aria-label="Chart of the repository's logical and stored size over time" />;
}
