<?php

namespace Wiremesh\Laravel\Console;

use Illuminate\Console\Command;
use RuntimeException;
use Wiremesh\Laravel\ServerConfig;

/** What wiremesh:start and wiremesh:doctor share: the config file they write and the program they run. */
abstract class ServerCommand extends Command
{
    /** Writes wiremesh's configuration (built from Laravel's) where only this user can read it; answers its path. */
    protected function writeConfig(ServerConfig $builder, ?string $host = null, ?int $port = null, bool $debug = false): string
    {
        $config = $builder->build($host, $port, $debug);
        $dir = storage_path('framework/wiremesh');
        if (! is_dir($dir) && ! mkdir($dir, 0700, true) && ! is_dir($dir)) {
            throw new RuntimeException("Cannot create {$dir}");
        }
        $file = $dir.'/wiremesh.json';
        $tmp = $file.'.'.getmypid();
        // Holds the app secret: 0600 from the start, then renamed over the old file.
        touch($tmp);
        chmod($tmp, 0600);
        file_put_contents($tmp, json_encode($config, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES)."\n");
        rename($tmp, $file);

        return $file;
    }

    /**
     * The program to run and its first arguments: WIREMESH_BINARY, else the app's
     * node_modules/.bin/wiremesh, else `npx --yes wiremesh@<the version this package was made for>`.
     *
     * @return list<string>
     */
    protected function program(): array
    {
        $binary = config('wiremesh.binary');
        if ($binary) {
            $path = str_starts_with($binary, '/') ? $binary : base_path($binary);
            if (! is_file($path)) {
                throw new RuntimeException("wiremesh.binary (WIREMESH_BINARY) is {$binary}, which does not exist");
            }

            return str_ends_with($path, '.js') ? [$this->find('node'), $path] : [$path];
        }
        $local = base_path('node_modules/.bin/wiremesh');
        if (is_file($local)) {
            return [$this->find('node'), realpath($local) ?: $local];
        }

        return [$this->find('npx'), '--yes', 'wiremesh@'.config('wiremesh.version')];
    }

    /**
     * The environment the server gets: what a program needs, Fly's FLY_* and the mesh secret.
     * Laravel's .env is not passed on (its PUSHER_APP_* would replace the file's app, its
     * WIREMESH_PORT the --port): everything else is in the config file.
     */
    protected function environment(): array
    {
        $env = ['PATH' => getenv('PATH') ?: '/usr/local/bin:/usr/bin:/bin'];
        foreach (['HOME', 'TERM', 'LANG', 'TZ', 'NODE_OPTIONS', 'npm_config_cache', 'WIREMESH_MESH_SECRET'] as $name) {
            $value = getenv($name);
            if ($value !== false && $value !== '') {
                $env[$name] = $value;
            }
        }
        // On Fly.io the Machines find each other by FLY_APP_NAME, FLY_MACHINE_ID and FLY_REGION.
        foreach (getenv() as $name => $value) {
            if (str_starts_with($name, 'FLY_') && $value !== '') {
                $env[$name] = $value;
            }
        }

        return $env;
    }

    /** The program's path on the PATH, else its bare name (which runForeground() refuses). */
    private function find(string $name): string
    {
        foreach (explode(PATH_SEPARATOR, getenv('PATH') ?: '/usr/local/bin:/usr/bin:/bin') as $dir) {
            if ($dir !== '' && is_file("{$dir}/{$name}") && is_executable("{$dir}/{$name}")) {
                return "{$dir}/{$name}";
            }
        }

        return $name;
    }

    /** Refuses a program that was not found, naming what to install. */
    protected function ensureFound(array $argv): void
    {
        if (! str_contains($argv[0], '/')) {
            throw new RuntimeException("{$argv[0]} is not on the PATH: wiremesh runs on Node.js 20 or later (https://nodejs.org)");
        }
    }

    /** Runs the program in the foreground with the terminal's stdio; answers its exit code. */
    protected function runForeground(array $argv): int
    {
        $this->ensureFound($argv);
        $process = proc_open($argv, [STDIN, STDOUT, STDERR], $pipes, base_path(), $this->environment());
        if (! is_resource($process)) {
            throw new RuntimeException('Could not start '.implode(' ', $argv));
        }
        if (function_exists('pcntl_signal')) {
            pcntl_async_signals(true);
            // Ctrl-C reaches the whole process group (the server too); SIGTERM/SIGHUP only PHP.
            pcntl_signal(SIGINT, fn () => null);
            foreach ([SIGTERM, SIGHUP] as $signal) {
                pcntl_signal($signal, fn (int $signo) => proc_terminate($process, $signo));
            }
        }
        do {
            $status = proc_get_status($process);
            if ($status['running']) {
                usleep(100_000);
            }
        } while ($status['running']);
        proc_close($process);

        return $status['signaled'] ? 128 + $status['termsig'] : $status['exitcode'];
    }
}
