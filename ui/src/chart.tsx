// Backup duration and stored bytes over time (uPlot, drawn on a canvas; its styles come
// from its own CSS file, so the page needs no inline style).
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { Backup } from "./api";

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
    // Backups close together: a day around them, not uPlot's default span of years.
    const times = data[0] as number[];
    const first = Math.min(...times), last = Math.max(...times);
    const span: [number, number] = last - first < 86400 ? [first - 43200, last + 43200] : [first, last];
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
