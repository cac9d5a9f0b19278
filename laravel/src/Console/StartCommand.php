<?php

namespace Wiremesh\Laravel\Console;

use Wiremesh\Laravel\ServerConfig;

class StartCommand extends ServerCommand
{
    protected $signature = 'wiremesh:start
        {--host= : The address to listen on (default: wiremesh.host, 127.0.0.1)}
        {--port= : The port to listen on (default: the broadcasting connection\'s port)}
        {--debug : Log at debug level}
        {--dry-run : Write the configuration and print the command, without starting the server}';

    protected $description = 'Start the wiremesh server with a configuration built from this app\'s';

    public function handle(ServerConfig $builder): int
    {
        $port = $this->option('port');
        if ($port !== null && (! ctype_digit((string) $port) || (int) $port > 65535)) {
            $this->error("--port must be a port number, not {$port}");

            return self::INVALID;
        }
        $file = $this->writeConfig($builder, $this->option('host'), $port === null ? null : (int) $port, (bool) $this->option('debug'));
        $argv = [...$this->program(), 'start', '--config', $file];
        $this->components->info('wiremesh: '.implode(' ', $argv));
        if ($this->option('dry-run')) {
            return self::SUCCESS;
        }
        // Replaces PHP with the server (same process, signals reach it directly) where PHP can.
        $this->ensureFound($argv);
        if (function_exists('pcntl_exec')) {
            pcntl_exec($argv[0], array_slice($argv, 1), $this->environment());
            $this->warn('pcntl_exec failed ('.pcntl_strerror(pcntl_get_last_error()).'): running the server as a child');
        }

        return $this->runForeground($argv);
    }
}
