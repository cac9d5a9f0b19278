<?php

namespace Wiremesh\Laravel;

use Illuminate\Contracts\Config\Repository;
use Illuminate\Routing\Router;
use InvalidArgumentException;

/**
 * wiremesh's configuration (its JSON config file) built from Laravel's: the app from the
 * broadcasting connection, the Livewire tunnel and publicUrl from APP_URL, the webhook endpoint
 * and fragment names from this package's routes and registry, the rest from config/wiremesh.php.
 */
class ServerConfig
{
    public function __construct(
        private readonly Repository $config,
        private readonly Router $router,
        private readonly Wiremesh $wiremesh,
    ) {
    }

    /** @return array<string, mixed> */
    public function build(?string $host = null, ?int $port = null, bool $debug = false): array
    {
        $w = $this->config->get('wiremesh', []);
        $connection = $this->wiremesh->connection();
        $upstream = $this->upstream();

        $app = [
            'id' => (string) $connection['app_id'],
            'key' => (string) $connection['key'],
            'secret' => (string) $connection['secret'],
        ];
        if ($this->livewireEnabled()) {
            $app['livewire'] = [
                'backends' => [$upstream],
                'publicUrl' => $this->origin($w['livewire']['public_url'] ?? null ?: $this->config->get('app.url')),
                'healthPath' => '/'.$this->wiremesh->healthPath(),
            ];
            $fragments = $this->wiremesh->fragmentChannels();
            if ($fragments !== []) {
                $app['fragments'] = [
                    'path' => '/'.trim($w['fragments']['path'] ?? 'wiremesh/fragments', '/'),
                    'names' => $fragments,
                    'windowMs' => (int) ($w['fragments']['window_ms'] ?? 100),
                    'intervalMs' => (int) ($w['fragments']['interval_ms'] ?? 0),
                ];
            }
        }
        if ($w['webhooks']['enabled'] ?? true) {
            $app['webhooks'] = [[
                'url' => $upstream.'/'.trim($w['webhooks']['path'] ?? 'wiremesh/webhook', '/'),
                'events' => array_values($w['webhooks']['events'] ?? []),
            ]];
        }
        if (! empty($w['history']['channels'])) {
            $app['history'] = $w['history'];
        }

        $server = [
            'host' => $host ?? (string) ($w['host'] ?? '127.0.0.1'),
            'port' => $port ?? (int) ($w['port'] ?? null ?: ($connection['options']['port'] ?? 6001)),
            'logLevel' => $debug ? 'debug' : (string) ($w['log_level'] ?? 'info'),
            'apps' => [$app],
        ];
        $cluster = $this->cluster($w['cluster'] ?? []);
        if ($cluster !== null) {
            $server['cluster'] = $cluster;
        }

        return array_replace_recursive($server, $w['server'] ?? []);
    }

    /** Where wiremesh reaches PHP (the tunnel, fragments, webhooks): WIREMESH_LIVEWIRE_UPSTREAM, else APP_URL. */
    public function upstream(): string
    {
        return $this->origin($this->config->get('wiremesh.livewire.upstream') ?: $this->config->get('app.url'));
    }

    public function livewireEnabled(): bool
    {
        $enabled = $this->config->get('wiremesh.livewire.enabled', 'auto');
        if ($enabled === 'auto') {
            return $this->router->getRoutes()->getByName('livewire.update') !== null
                || class_exists('Livewire\\Livewire');
        }

        return filter_var($enabled, FILTER_VALIDATE_BOOL);
    }

    /** @param  array<string, mixed>  $cluster */
    private function cluster(array $cluster): ?array
    {
        $driver = $cluster['driver'] ?? 'memory';

        return match ($driver) {
            'memory' => null,
            'redis' => ['driver' => 'redis', 'redis' => ['url' => (string) $cluster['redis']['url']]],
            'nats' => ['driver' => 'nats', 'nats' => ['servers' => array_values($cluster['nats']['servers'])]],
            'mesh' => ['driver' => 'mesh', 'mesh' => array_filter([
                'host' => $cluster['mesh']['host'] ?? null,
                'port' => (int) ($cluster['mesh']['port'] ?? 6100),
                'peers' => array_values($cluster['mesh']['peers'] ?? []),
                'dns' => $cluster['mesh']['dns'] ?? null,
                'secret' => $cluster['mesh']['secret'] ?? null,
            ], fn ($v) => $v !== null && $v !== [])],
            default => throw new InvalidArgumentException("wiremesh.cluster.driver must be memory, redis, nats or mesh, not {$driver}"),
        };
    }

    private function origin(?string $url): string
    {
        $parts = parse_url((string) $url);
        if (! isset($parts['scheme'], $parts['host'])) {
            throw new InvalidArgumentException("APP_URL (or WIREMESH_LIVEWIRE_UPSTREAM / WIREMESH_PUBLIC_URL) must be an absolute URL such as http://127.0.0.1:8000, not \"{$url}\"");
        }
        $host = str_contains($parts['host'], ':') && ! str_starts_with($parts['host'], '[') ? "[{$parts['host']}]" : $parts['host'];

        return $parts['scheme'].'://'.$host.(isset($parts['port']) ? ':'.$parts['port'] : '');
    }
}
