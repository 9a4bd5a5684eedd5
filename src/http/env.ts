/** The Worker's bindings as the HTTP shell sees them; its own module so the route modules need not import app.ts. */
export type SluiceEnv = Env & {
  ADMIN_TOKEN?: string;
  /** Signs console sessions (docs/console.md); when unset, a key derived from ADMIN_TOKEN does. */
  CONSOLE_SESSION_KEY?: string;
};
