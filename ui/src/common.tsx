// Small pieces the pages share.
import { useEffect, useRef } from "preact/hooks";
import { ApiError } from "./api";

// Calls `load` now and every `ms` while the page shows.
export function useRefresh(load: () => Promise<void>, ms: number, deps: unknown[] = []) {
  const latest = useRef(load);
  latest.current = load;
  useEffect(() => {
    void latest.current();
    const timer = setInterval(() => void latest.current(), ms);
    return () => clearInterval(timer);
  }, deps);
}

// An error as the API told it: what failed and what to do.
export function Problem({ error }: { error: Error | null }) {
  if (!error) return null;
  const hint = error instanceof ApiError ? error.hint : "";
  return (
    <p role="alert" class="error">
      {error.message}
      {hint && <><br /><small>{hint}</small></>}
    </p>
  );
}
