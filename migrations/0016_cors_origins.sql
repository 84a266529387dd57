-- Browser origins each project's pages call the service from (CORS and the
-- WebSocket's Origin check). Each entry is an origin as a browser sends it
-- (`https://shop.example.com`, `http://localhost:5173`) or `*` for any; the
-- default project adds CORS_ALLOWED_ORIGINS from the configuration.
ALTER TABLE projects ADD COLUMN cors_origins text[] NOT NULL DEFAULT '{}';
