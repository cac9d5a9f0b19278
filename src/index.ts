export { startServer, type RunningServer, type StopMode } from './server.js';
export { loadConfig } from './config/load.js';
export { validateConfig } from './config/validate.js';
export type { Config, AppConfig } from './config/schema.js';
export { createLogger, type Logger } from './log/logger.js';
export { PusherError, ErrorCodes } from './errors.js';
