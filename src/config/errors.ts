/**
 * The one error class of configuration: a bad setting in the config file, a bad environment
 * variable, or a config file that cannot be read. Raised before the server starts; the CLI prints
 * `message` and exits.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /**
   * What is wrong: a config path (`apps[0].key`, `cluster.nodeTimeoutMs`), an environment variable
   * (`WIREMESH_PORT`) or a config file name. `''` means the config as a whole.
   */
  readonly path: string;

  constructor(path: string, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.path = path;
  }
}
