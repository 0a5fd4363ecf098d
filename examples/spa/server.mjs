// Serves the example SPA with no build step: static files, /config.js with authd's URL, and
// index.html for every other path (client-side routes such as /auth/callback).
// Usage: PORT=5173 AUTHD_URL=http://localhost:8000 node server.mjs
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL(".", import.meta.url));
const port = Number(process.env.PORT ?? 5173);
const authd = process.env.AUTHD_URL ?? "http://localhost:8000";
const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".png": "image/png" };

createServer(async (req, res) => {
  const path = new URL(req.url, "http://localhost").pathname;
  if (path === "/config.js") {
    res.writeHead(200, { "Content-Type": "text/javascript" });
    return res.end(`window.AUTHD_URL = ${JSON.stringify(authd)};`);
  }
  const file = normalize(join(root, path));
  const servable = file.startsWith(root) && extname(file) in types && !file.includes("node_modules");
  try {
    const body = await readFile(servable ? file : join(root, "index.html"));
    res.writeHead(200, { "Content-Type": types[servable ? extname(file) : ".html"] });
    res.end(body);
  } catch {
    res.writeHead(404).end("not found");
  }
}).listen(port, "127.0.0.1", () => console.log(`SPA on http://localhost:${port} (authd at ${authd})`));
