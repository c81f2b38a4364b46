// The dashboard's shell: the login form until a token works, then the pages by the URL's
// hash (#/ the instances, #/instances/NAME one of them). Everything goes through the REST
// API with the same bearer token as the CLI (src/api.ts).
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError, call, forgetToken, saveToken, savedToken } from "./api";
import { InstancesPage } from "./instances";
import { InstancePage } from "./instance";
import { JobsPage } from "./jobs";
import { AlertsPage } from "./alerts";
import { RepositoryPage } from "./repository";
import "./style.css";

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const onChange = () => setHash(location.hash);
    addEventListener("hashchange", onChange);
    return () => removeEventListener("hashchange", onChange);
  }, []);
  return hash;
}

function Login({ onLogin }: { onLogin: () => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState("");
  const submit = async (e: Event) => {
    e.preventDefault();
    setError("");
    try {
      await call("GET", "/instances", undefined, token.trim());
      saveToken(token.trim());
      onLogin();
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401
        ? "The token was refused: it is in <data-root>/api-token on the daemon's machine."
        : `The daemon could not be asked: ${(err as Error).message}`);
    }
  };
  return (
    <main class="login">
      <h1>Mini DBaaS</h1>
      <form onSubmit={submit}>
        <label for="token">API token</label>
        <input id="token" type="password" autocomplete="off" value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)} required />
        <button type="submit">Log in</button>
        {error && <p role="alert" class="error">{error}</p>}
      </form>
    </main>
  );
}

function App() {
  const [loggedIn, setLoggedIn] = useState(savedToken() !== null);
  const hash = useHash();
  if (!loggedIn) return <Login onLogin={() => setLoggedIn(true)} />;
  const logout = () => {
    forgetToken();
    setLoggedIn(false);
  };
  const instance = /^#\/instances\/([a-z0-9-]+)$/.exec(hash);
  return (
    <>
      <header>
        <a href="#/" class="brand">Mini DBaaS</a>
        <nav><a href="#/">Instances</a> <a href="#/jobs">Jobs</a> <a href="#/repository">Repository</a> <a href="#/alerts">Alerts</a></nav>
        <button class="link" onClick={logout}>Log out</button>
      </header>
      <main>
        {instance ? <InstancePage key={instance[1]} name={instance[1]} /> : hash === "#/jobs" ? <JobsPage /> : hash === "#/alerts" ? <AlertsPage /> : hash === "#/repository" ? <RepositoryPage /> : <InstancesPage />}
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
