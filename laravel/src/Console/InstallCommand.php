<?php

namespace Wiremesh\Laravel\Console;

use Illuminate\Console\Command;
use Illuminate\Foundation\Application;
use Wiremesh\Laravel\WiremeshServiceProvider;

/**
 * `php artisan wiremesh:install`: the .env keys (a generated key and secret), config/wiremesh.php,
 * the broadcasting connection, Echo's bootstrap (resources/js/echo.js), then the next steps.
 * Adds what is missing and changes nothing else: a second run says there was nothing to do.
 */
class InstallCommand extends Command
{
    protected $signature = 'wiremesh:install';

    protected $description = 'Set up this app to broadcast through wiremesh (.env, config/wiremesh.php, Echo)';

    /** @var list<string> */
    private array $changes = [];

    public function handle(): int
    {
        // The command object outlives one run (tests, Artisan::call): start each run afresh.
        $this->changes = [];
        $env = new EnvFile($this->laravel->environmentFilePath());
        [$connection, $prefix] = $this->connection($env);
        $this->env($env, $connection, $prefix);
        $env->save();
        $this->publishConfig();
        $this->echo($prefix);

        if ($this->changes === []) {
            $this->info('wiremesh is already installed: nothing changed.');
        } else {
            $this->info('wiremesh installed:');
            foreach ($this->changes as $change) {
                $this->line("  - {$change}");
            }
        }
        $this->nextSteps($connection);

        return self::SUCCESS;
    }

    /**
     * The broadcasting connection to use and the prefix of its .env names: the app's own `pusher`
     * or `reverb` connection when the Pusher PHP SDK they need is installed, else this package's
     * `wiremesh` connection (Laravel's HTTP client, no SDK) with Laravel's PUSHER_* names.
     *
     * @return array{0: string, 1: string}
     */
    private function connection(EnvFile $env): array
    {
        $variable = version_compare(Application::VERSION, '11', '<') ? 'BROADCAST_DRIVER' : 'BROADCAST_CONNECTION';
        $current = $env->get('BROADCAST_CONNECTION') ?? $env->get('BROADCAST_DRIVER') ?? 'null';
        $driver = config("broadcasting.connections.{$current}.driver");
        if (in_array($driver, ['pusher', 'reverb'], true) && class_exists('Pusher\\Pusher')) {
            return [$current, $driver === 'reverb' ? 'REVERB' : 'PUSHER'];
        }
        if ($env->set($variable, 'wiremesh', true)) {
            $this->changes[] = ".env: {$variable}=wiremesh (was {$current}".(in_array($driver, ['pusher', 'reverb'], true) ? ': the Pusher PHP SDK is not installed; the wiremesh connection uses Laravel\'s HTTP client' : '').')';
        }

        return ['wiremesh', 'PUSHER'];
    }

    private function env(EnvFile $env, string $connection, string $prefix): void
    {
        $appUrl = parse_url((string) ($env->get('APP_URL') ?? config('app.url')));
        $values = [
            "{$prefix}_APP_ID" => (string) random_int(100000, 999999),
            "{$prefix}_APP_KEY" => strtolower(bin2hex(random_bytes(10))),
            "{$prefix}_APP_SECRET" => bin2hex(random_bytes(20)),
            // Where Laravel's broadcaster reaches wiremesh (server side).
            "{$prefix}_HOST" => '127.0.0.1',
            "{$prefix}_PORT" => '6001',
            "{$prefix}_SCHEME" => 'http',
            // What the browser connects to: the page's own host, so cookies and origins agree.
            "VITE_{$prefix}_APP_KEY" => "\${{$prefix}_APP_KEY}",
            "VITE_{$prefix}_HOST" => $appUrl['host'] ?? 'localhost',
            "VITE_{$prefix}_PORT" => "\${{$prefix}_PORT}",
            "VITE_{$prefix}_SCHEME" => "\${{$prefix}_SCHEME}",
        ];
        foreach ($values as $name => $value) {
            if ($env->set($name, $value)) {
                $generated = in_array($name, ["{$prefix}_APP_ID", "{$prefix}_APP_KEY", "{$prefix}_APP_SECRET"], true);
                $this->changes[] = ".env: {$name}".($generated ? ' (generated)' : "={$value}");
            }
        }
    }

    private function publishConfig(): void
    {
        $target = config_path('wiremesh.php');
        if (! is_file($target)) {
            copy(WiremeshServiceProvider::CONFIG, $target);
            $this->changes[] = 'config/wiremesh.php';
        }
    }

    private function echo(string $prefix): void
    {
        $target = resource_path('js/echo.js');
        $source = str_replace('PUSHER', $prefix, (string) file_get_contents(__DIR__.'/../../resources/js/echo.js'));
        if (! is_file($target)) {
            if (! is_dir(dirname($target))) {
                mkdir(dirname($target), 0755, true);
            }
            file_put_contents($target, $source);
            $this->changes[] = 'resources/js/echo.js';
        } elseif (! str_contains((string) file_get_contents($target), 'wiremesh-livewire')) {
            $this->components->warn('resources/js/echo.js exists and was left alone: compare it with '.realpath(__DIR__.'/../../resources/js/echo.js').' (it adds Livewire over the socket)');
        }
        $bootstrap = resource_path('js/bootstrap.js');
        if (is_file($bootstrap) && ! preg_match('/import\s+[\'"]\.\/echo(\.js)?[\'"]/', (string) file_get_contents($bootstrap))) {
            file_put_contents($bootstrap, "\nimport './echo';\n", FILE_APPEND);
            $this->changes[] = "resources/js/bootstrap.js: import './echo'";
        }
    }

    private function nextSteps(string $connection): void
    {
        $this->newLine();
        $this->line('Next:');
        $this->line('  npm install --save-dev wiremesh pusher-js laravel-echo wiremesh-livewire && npm run build');
        $this->line('      (until they are on npm: npm install --save-dev ../wiremesh ../wiremesh/client pusher-js laravel-echo)');
        $this->line('  php artisan wiremesh:start          # the server, in its own terminal (or a service: docs/deploy.md)');
        $this->line('  php artisan wiremesh:doctor         # checks the configuration and that Laravel answers');
        $this->line('  php artisan queue:work               # unless your events implement ShouldBroadcastNow');
        $this->line("  Layouts without Vite: @wiremeshScripts in <head> (broadcasting connection: {$connection}).");
    }
}
